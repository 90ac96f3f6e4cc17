"""Hex Registry v2 reader: verified, bounded decoding of repo.hex.pm's signed files, with no I/O.

    read_package(body, name=...)  /packages/NAME   every release: deps, checksums, retirement, advisories
    read_versions(body)           /versions        every package's versions, retired and advisory flags
    read_names(body)              /names           every package name with its last update

Each takes the response body exactly as downloaded (a gzip file) and either returns frozen dataclasses or raises
`RegistryError`, whose `step` names the check that failed. Nothing here fetches or caches.
"""

from hex_mcp.registry.model import (
    RegistryAdvisory,
    RegistryDependency,
    RegistryError,
    RegistryNames,
    RegistryPackage,
    RegistryRelease,
    RegistryRetirement,
    RegistryStep,
    RegistryVersions,
    RegistryVersionsEntry,
)
from hex_mcp.registry.verify import (
    HEXPM_PUBLIC_KEY,
    INDEX_MAX_BYTES,
    PACKAGE_MAX_BYTES,
    hexpm_public_key,
    load_public_key,
    read_names,
    read_package,
    read_versions,
)

__all__ = [
    "HEXPM_PUBLIC_KEY",
    "INDEX_MAX_BYTES",
    "PACKAGE_MAX_BYTES",
    "RegistryAdvisory",
    "RegistryDependency",
    "RegistryError",
    "RegistryNames",
    "RegistryPackage",
    "RegistryRelease",
    "RegistryRetirement",
    "RegistryStep",
    "RegistryVersions",
    "RegistryVersionsEntry",
    "hexpm_public_key",
    "load_public_key",
    "read_names",
    "read_package",
    "read_versions",
]
