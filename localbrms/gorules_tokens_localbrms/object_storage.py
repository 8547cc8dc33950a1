"""S3-compatible storage of a Deployment: where deploys put release zips and Agents list them.

A GoRules Deployment of provider AWS S3 names a region, a bucket, an optional endpoint (for
S3-compatible services), an optional path inside the bucket, path-style addressing and the
credentials (or IAM). :class:`S3Location` reads that configuration; we accept camelCase and
snake_case spellings, and ``prefix`` for ``path``, since GoRules documents the fields by their
labels only.

:class:`S3Bucket` talks to the bucket with boto3 the way the Agent's S3 provider
(``src/provider/s3.rs``, v1.26.0) does: the path gets a trailing ``/``; a poll is one
``ListObjectsV2`` with delimiter ``/`` and at most 1,000 keys, so only objects directly under
the path count (nothing in sub-folders); the project key is the object key without the path,
exactly as stored; an object's ETag tells the Agent whether to download it again.
boto3 is imported only when a Deployment uses S3, so the embedded default never loads it.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from botocore.client import BaseClient

S3_PROVIDERS = frozenset({"aws_s3", "aws-s3", "s3", "awss3"})
LOCAL_PROVIDER = "localbrms"  # the embedded default: artifacts in SQLite rows
DEFAULT_REGION = "us-east-1"  # what the Agent falls back to without a configured region
LIST_PAGE = 1_000  # the Agent reads one page of this size per poll
_ALIASES: dict[str, tuple[str, ...]] = {
    "bucket": ("bucket", "bucketName", "bucket_name"),
    "prefix": ("path", "prefix"),
    "endpoint": ("endpoint", "endpointUrl", "endpoint_url"),
    "region": ("region",),
    "force_path_style": ("forcePathStyle", "force_path_style"),
    "access_key_id": ("accessKeyId", "access_key_id"),
    "secret_access_key": ("secretAccessKey", "secret_access_key"),
}


class StorageConfigError(ValueError):
    """A Deployment's configuration cannot name a bucket; the message names the field."""


class StorageWriteError(RuntimeError):
    """A deploy could not put its zip into the bucket (answered 502, nothing deployed)."""


def is_s3(provider: str | None) -> bool:
    return (provider or "").strip().lower() in S3_PROVIDERS


@dataclass(frozen=True)
class S3Location:
    """Where one Deployment's release zips live, and the credentials to reach them."""

    bucket: str
    prefix: str | None = None
    endpoint: str | None = None
    region: str = DEFAULT_REGION
    force_path_style: bool = False
    access_key_id: str | None = None
    secret_access_key: str | None = field(default=None, repr=False)

    @classmethod
    def from_configuration(cls, configuration: Mapping[str, Any]) -> S3Location:
        values: dict[str, Any] = {}
        for name, spellings in _ALIASES.items():
            found = next((configuration[s] for s in spellings if configuration.get(s) not in (None, "")), None)
            if found is not None:
                values[name] = found
        for name in ("bucket", "prefix", "endpoint", "region", "access_key_id", "secret_access_key"):
            if name in values and not isinstance(values[name], str):
                raise StorageConfigError(f"configuration.{_ALIASES[name][0]} must be a string")
        if not values.get("bucket"):
            raise StorageConfigError("configuration.bucket is required for an S3 deployment")
        if "force_path_style" in values and not isinstance(values["force_path_style"], bool):
            raise StorageConfigError("configuration.forcePathStyle must be true or false")
        if ("access_key_id" in values) != ("secret_access_key" in values):
            raise StorageConfigError("configuration.accessKeyId and secretAccessKey go together")
        return cls(**values)

    @property
    def folder(self) -> str:
        """The key prefix as the Agent uses it: the path with a trailing ``/``, or none."""
        if not self.prefix:
            return ""
        return self.prefix if self.prefix.endswith("/") else self.prefix + "/"

    def public(self) -> dict[str, Any]:
        """The configuration as an answer may show it: everything but the secret key."""
        return {
            "bucket": self.bucket,
            "path": self.prefix,
            "endpoint": self.endpoint,
            "region": self.region,
            "forcePathStyle": self.force_path_style,
            "accessKeyId": self.access_key_id,
        }


@dataclass(frozen=True)
class StoredObject:
    name: str  # the object key without the Deployment's path: the Agent's project key
    etag: str


class S3Bucket:
    """Put, list and get release zips under one :class:`S3Location`."""

    def __init__(self, location: S3Location) -> None:
        self.location = location
        self._client: BaseClient | None = None

    @property
    def client(self) -> BaseClient:
        if self._client is None:
            import boto3
            from botocore.config import Config

            loc = self.location
            self._client = boto3.session.Session().client(
                "s3",
                endpoint_url=loc.endpoint,
                region_name=loc.region,
                aws_access_key_id=loc.access_key_id,
                aws_secret_access_key=loc.secret_access_key,
                config=Config(
                    s3={"addressing_style": "path" if loc.force_path_style else "auto"},
                    connect_timeout=5,
                    read_timeout=30,
                    retries={"max_attempts": 3, "mode": "standard"},
                ),
            )
        return self._client

    def key(self, name: str) -> str:
        return self.location.folder + name

    def put(self, name: str, data: bytes) -> str:
        """Write one object; returns its ETag."""
        answer = self.client.put_object(
            Bucket=self.location.bucket, Key=self.key(name), Body=data, ContentType="application/zip"
        )
        return str(answer.get("ETag", ""))

    def list(self) -> list[StoredObject]:
        """One page of the objects directly under the path, as an Agent poll sees them."""
        request: dict[str, Any] = {"Bucket": self.location.bucket, "Delimiter": "/", "MaxKeys": LIST_PAGE}
        if self.location.folder:
            request["Prefix"] = self.location.folder
        answer = self.client.list_objects_v2(**request)
        found = []
        for obj in answer.get("Contents", []):
            name = obj["Key"].removeprefix(self.location.folder)
            if name:
                found.append(StoredObject(name=name, etag=str(obj.get("ETag", ""))))
        return found

    def get(self, name: str) -> tuple[bytes, str]:
        """An object's bytes and ETag."""
        answer = self.client.get_object(Bucket=self.location.bucket, Key=self.key(name))
        return answer["Body"].read(), str(answer.get("ETag", ""))

    def delete(self, name: str) -> None:
        self.client.delete_object(Bucket=self.location.bucket, Key=self.key(name))


_buckets: dict[S3Location, S3Bucket] = {}
_buckets_lock = threading.Lock()


def bucket_for(location: S3Location) -> S3Bucket:
    """One client per location and process: a boto3 client costs tens of ms to build, and is
    safe to share between threads."""
    with _buckets_lock:
        bucket = _buckets.get(location)
        if bucket is None:
            bucket = _buckets[location] = S3Bucket(location)
        return bucket
