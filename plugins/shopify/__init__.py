"""Shopify: the connector and the emulator of its Admin API (REST reads, GraphQL tag writes)."""

from typing import Any

from syncd.connectors import hookimpl


@hookimpl
def syncd_connectors() -> list[type]:
    from syncd_plugins.shopify.connector import ShopifyConnector

    return [ShopifyConnector]


@hookimpl
def syncd_emulators() -> dict[str, Any]:
    from syncd_plugins.shopify.emulator import ShopifyEmulator

    return {"shopify": ShopifyEmulator}
