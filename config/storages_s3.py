"""The S3 (or S3-compatible) store, write-once like the local one (see config.storages).

An object is written whole by one PUT, and AWS_S3_FILE_OVERWRITE is off, so a taken name gets another;
deleting is refused here, and a bucket with object lock refuses it to everyone else.
"""

from __future__ import annotations

from django.utils.deconstruct import deconstructible
from storages.backends.s3 import S3Storage

from config.storages import refuse_delete


@deconstructible(path="config.storages_s3.WriteOnceS3Storage")
class WriteOnceS3Storage(S3Storage):
    def delete(self, name: str) -> None:
        refuse_delete(name)
