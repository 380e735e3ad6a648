#!/usr/bin/python3
"""Downloads a blob with Microsoft's own Azure Storage SDK for Python (client-side
encryption v1), given the key-encryption key, and writes the plaintext to stdout.

This is the exit path the plugin promises: blobs it writes stay readable without it.
Usage: decrypt_with_azure_sdk.py <connection-string> <container> <blob> <kek-file> <kid>
The KEK file is an RSA private key (PEM) or an AES-256 key (64 hex characters).
"""
import sys

from azure.storage.blob import BlobClient
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap


class KeyEncryptionKey:
    """The object the SDK expects: get_kid() and unwrap_key(key, algorithm)."""

    def __init__(self, path, kid):
        self.kid = kid
        with open(path, "rb") as handle:
            data = handle.read()
        if b"PRIVATE KEY" in data:
            self.rsa = serialization.load_pem_private_key(data, password=None)
            self.aes = None
        else:
            self.rsa = None
            self.aes = bytes.fromhex(data.decode("ascii").strip())

    def get_kid(self):
        return self.kid

    def get_key_wrap_algorithm(self):
        return "RSA-OAEP-256" if self.rsa is not None else "A256KW"

    def wrap_key(self, key):  # not used for reads
        raise NotImplementedError

    def unwrap_key(self, key, algorithm):
        if algorithm == "RSA-OAEP-256":
            oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
            return self.rsa.decrypt(key, oaep)
        if algorithm == "RSA-OAEP":
            oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None)
            return self.rsa.decrypt(key, oaep)
        if algorithm == "A256KW":
            return aes_key_unwrap(self.aes, key)
        raise ValueError("unsupported key wrap algorithm " + algorithm)


def main():
    connection_string, container, blob, kek_file, kid = sys.argv[1:6]
    client = BlobClient.from_connection_string(
        connection_string,
        container_name=container,
        blob_name=blob,
        key_encryption_key=KeyEncryptionKey(kek_file, kid),
        require_encryption=True,
    )
    sys.stdout.buffer.write(client.download_blob().readall())


if __name__ == "__main__":
    main()
