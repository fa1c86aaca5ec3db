"""The write endpoints of the ActiveCampaign emulator, and the error bodies AC answers with."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from syncd.emulator import Clock, TokenBucket, retry_after_header
from syncd_plugins.activecampaign.emulator_state import EMAIL, AccountState

MAX_BULK = 250


def errors(
    status: int, title: str, pointer: str | None = None, detail: str | None = None
) -> Response:
    """The ``{"errors": [...]}`` body AC answers validation and lookup errors with."""
    error: dict[str, Any] = {"status": status, "title": title}
    if detail is not None:
        error["detail"] = detail
    if pointer is not None:
        error["source"] = {"pointer": pointer}
    return JSONResponse({"errors": [error]}, status)


def missing(attribute: str) -> Response:
    return errors(422, "Missing attribute", f"/data/attributes/{attribute}")


def not_found(what: str) -> Response:
    return errors(404, "Not Found", detail=f"{what} not found")


def no_result(kind: str, id_: object) -> Response:
    return JSONResponse({"message": f"No Result found for {kind} with id {id_}"}, 404)


def _list_status(data: dict[str, Any]) -> Response | None:
    """AC's 422 for a contact list status other than 1 (active) or 2 (unsubscribed)."""
    if str(data["status"]) in ("1", "2"):
        return None
    return errors(
        422,
        "Invalid attribute",
        "/data/attributes/status",
        "status must be 1 (active) or 2 (unsubscribed)",
    )


async def body_of(request: Request, key: str, *required: str) -> dict[str, Any] | Response:
    """The object under ``key`` in a JSON body, or the error response to send: for a body
    that is not JSON, or lacks the object or one of its ``required`` attributes."""
    try:
        data = json.loads(await request.body() or b"{}")
    except ValueError:
        return JSONResponse({"message": "Invalid JSON in the request body"}, 400)
    inner = data.get(key) if isinstance(data, dict) else None
    if not isinstance(inner, dict):
        return missing(key)
    for attribute in required:
        if not str(inner.get(attribute) or "").strip():
            return missing(attribute)
    return inner


class AccountWrites:
    """Mixed into the emulator: every endpoint that changes the account."""

    account: AccountState
    clock: Clock
    imports: TokenBucket

    def render(self, row: dict[str, Any], base: str = "") -> dict[str, Any]:
        raise NotImplementedError

    def _named(self, data: dict[str, Any], *keys: str) -> list[dict[str, Any]] | Response:
        """The rows ``data`` names by id under ``keys`` (contact, tag, list, field), or AC's
        404 for the first that does not exist."""
        rows = []
        for key in keys:
            row = self.account.get(f"{key}s", data[key])
            if row is None:
                return not_found(key.capitalize())
            rows.append(row)
        return rows

    async def _link(
        self,
        request: Request,
        key: str,
        required: tuple[str, ...],
        named: tuple[str, str],
        check: Callable[[dict[str, Any]], Response | None] = lambda _: None,
    ) -> tuple[dict[str, Any], list[dict[str, Any]]] | Response:
        """A link's body under ``key`` and the two rows it names, or the error to send: a bad
        body first, then what ``check`` refuses, then a row that does not exist."""
        data = await body_of(request, key, *required)
        if isinstance(data, Response):
            return data
        refused = check(data)
        if refused is not None:
            return refused
        rows = self._named(data, *named)
        return rows if isinstance(rows, Response) else (data, rows)

    def _contacts(self, contact_id: str) -> list[dict[str, Any]]:
        contact = self.account.get("contacts", contact_id)
        return [self.render(contact)] if contact else []

    async def sync_contact(self, request: Request) -> Response:
        data = await body_of(request, "contact", "email")
        if isinstance(data, Response):
            return data
        email = str(data["email"]).strip()
        if not EMAIL.match(email):
            return errors(422, "Email address is invalid", "/data/attributes/email")
        now = self.clock()
        contact, created = self.account.sync_contact({**data, "email": email}, now)
        values = self.field_values(contact, data, now)
        body = {"fieldValues": values, "contact": self.render(contact)}
        return JSONResponse(body, 201 if created else 200)

    def field_values(
        self, contact: dict[str, Any], data: dict[str, Any], now: datetime
    ) -> list[dict[str, Any]]:
        """Set the ``fieldValues`` a contact body carries, of fields the account has."""
        values = []
        for item in data.get("fieldValues") or []:
            if self.account.get("fields", item.get("field")) is not None:
                row = self.account.set_field(
                    contact["id"], str(item["field"]), str(item.get("value", "")), now
                )
                values.append(self.render(row))
        return values

    async def create_contact(self, request: Request) -> Response:
        data = await body_of(request, "contact", "email")
        if isinstance(data, Response):
            return data
        if self.account.contact_by_email(str(data["email"]).strip()) is not None:
            return errors(
                422, "Email address already exists in the system.", "/data/attributes/email"
            )
        return await self.sync_contact(request)

    async def update_contact(self, request: Request) -> Response:
        """``PUT /contacts/{id}``: the attributes given change, e-mail included."""
        contact = self.account.get("contacts", request.path_params["id"])
        if contact is None or contact["deleted"] != "0":
            return no_result("Subscriber", request.path_params["id"])
        data = await body_of(request, "contact")
        if isinstance(data, Response):
            return data
        now = self.clock()
        if "email" in data:
            email = str(data["email"] or "").strip()
            if not EMAIL.match(email):
                return errors(422, "Email address is invalid", "/data/attributes/email")
            other = self.account.contact_by_email(email)
            if other is not None and other is not contact:
                return errors(
                    422, "Email address already exists in the system.", "/data/attributes/email"
                )
            if email != contact["email"]:
                self.account.reindex("contacts", contact, email=email, _email=email.lower())
                self.account.touch(contact["id"], now)
        self.account.sync_contact({**data, "email": contact["email"]}, now)
        values = self.field_values(contact, data, now)
        return JSONResponse({"fieldValues": values, "contact": self.render(contact)})

    async def delete_contact(self, request: Request) -> Response:
        contact = self.account.get("contacts", request.path_params["id"])
        if contact is None or contact["deleted"] != "0":
            return no_result("Subscriber", request.path_params["id"])
        self.account.delete_contact(contact, self.clock())
        return JSONResponse({})

    async def update_tag(self, request: Request) -> Response:
        tag = self.account.get("tags", request.path_params["id"])
        if tag is None:
            return no_result("Tag", request.path_params["id"])
        data = await body_of(request, "tag")
        if isinstance(data, Response):
            return data
        if "tag" in data:
            name = str(data["tag"] or "").strip()
            if not name:
                return missing("tag")
            other = self.account.tag_by_name(name)
            if other is not None and other is not tag:
                return errors(
                    422,
                    "Duplicate entry",
                    "/data/attributes/tag",
                    f"A tag named {name!r} already exists",
                )
            self.account.reindex("tags", tag, tag=name, _name=name.lower())
        for key in ("tagType", "description"):
            if key in data:
                tag[key] = str(data[key] or "")
        return JSONResponse({"tag": self.render(tag)})

    async def delete_tag(self, request: Request) -> Response:
        tag = self.account.get("tags", request.path_params["id"])
        if tag is None:
            return no_result("Tag", request.path_params["id"])
        self.account.delete_tag(tag, self.clock())
        return JSONResponse({})

    async def create_tag(self, request: Request) -> Response:
        data = await body_of(request, "tag", "tag")
        if isinstance(data, Response):
            return data
        name = str(data["tag"]).strip()
        if self.account.tag_by_name(name) is not None:
            return errors(
                422,
                "Duplicate entry",
                "/data/attributes/tag",
                f"A tag named {name!r} already exists",
            )
        tag = self.account.create_tag(
            name,
            str(data.get("tagType") or "contact"),
            str(data.get("description") or ""),
            self.clock(),
        )
        return JSONResponse({"tag": self.render(tag)}, 201)

    async def add_contact_tag(self, request: Request) -> Response:
        found = await self._link(request, "contactTag", ("contact", "tag"), ("contact", "tag"))
        if isinstance(found, Response):
            return found
        contact, tag = found[1]
        link, created = self.account.add_tag(contact["id"], tag["id"], self.clock())
        body = {"contacts": self._contacts(contact["id"]), "contactTag": self.render(link)}
        return JSONResponse(body, 201 if created else 200)

    async def remove_contact_tag(self, request: Request) -> Response:
        raw = request.path_params["id"]
        try:
            link_id = int(raw)
        except ValueError:
            return no_result("SubscriberTag", raw)
        if not self.account.remove_tag(link_id, self.clock()):
            return no_result("SubscriberTag", raw)
        return JSONResponse({})

    async def create_list(self, request: Request) -> Response:
        data = await body_of(request, "list", "name", "stringid", "sender_url", "sender_reminder")
        if isinstance(data, Response):
            return data
        now = self.clock()
        row = self.account.insert(
            "lists",
            {
                "name": str(data["name"]),
                "stringid": str(data["stringid"]),
                "sender_url": str(data["sender_url"]),
                "sender_reminder": str(data["sender_reminder"]),
                "cdate": now,
                "udate": now,
                "created_timestamp": now,
                "updated_timestamp": now,
                "userid": "1",
                "user": "1",
                "subscriber_count": "0",
            },
        )
        return JSONResponse({"list": self.render(row)}, 201)

    async def set_contact_list(self, request: Request) -> Response:
        required = ("list", "contact", "status")
        found = await self._link(
            request, "contactList", required, ("contact", "list"), check=_list_status
        )
        if isinstance(found, Response):
            return found
        data, (contact, list_) = found
        row = self.account.set_list_status(
            contact["id"], list_["id"], int(data["status"]), self.clock(), resubscribe=True
        )
        body = {"contacts": self._contacts(contact["id"]), "contactList": self.render(row)}
        return JSONResponse(body, 201)

    async def set_field_value(self, request: Request) -> Response:
        found = await self._link(request, "fieldValue", ("contact", "field"), ("contact", "field"))
        if isinstance(found, Response):
            return found
        data, (contact, _) = found
        row = self.account.set_field(
            contact["id"], str(data["field"]), str(data.get("value", "")), self.clock()
        )
        body = {"contacts": self._contacts(contact["id"]), "fieldValue": self.render(row)}
        return JSONResponse(body, 201)

    async def bulk_import(self, request: Request) -> Response:
        try:
            data = json.loads(await request.body() or b"{}")
        except ValueError:
            data = None
        contacts = data.get("contacts") if isinstance(data, dict) else None
        if not isinstance(contacts, list) or not contacts:
            return _bulk_error(
                "JSON payload did not pass validation.", ["'contacts' is a required field."]
            )
        if len(contacts) > MAX_BULK:
            return _bulk_error(
                "JSON payload did not pass validation. The import was not queued for processing.",
                [f"Up to {MAX_BULK} contacts may be imported in a single request."],
            )
        reasons = [
            {"contact": n, "failureReason": "Field 'email' incorrect format"}
            for n, c in enumerate(contacts)
            if not isinstance(c, dict) or not EMAIL.match(str(c.get("email") or "").strip())
        ]
        if reasons:
            return _bulk_error(
                "JSON payload did not pass validation. Please fix failure Reasons and retry. "
                "The import was not queued for processing.",
                reasons,
            )
        if (wait := self.imports.take()) > 0:
            body = {
                "success": 0,
                "message": "Rate limit exceeded.",
                "failureReasons": [
                    "Up to 100 imports may be requested per minute.Please batch contacts into "
                    "larger requests, or retry this request in a minute."
                ],
            }
            return JSONResponse(body, 429, {"Retry-After": retry_after_header(wait)})
        items = [{**c, "email": str(c["email"]).strip()} for c in contacts]
        batch = self.account.queue_import(items, self.clock())
        return JSONResponse(
            {
                "success": 1,
                "queued_contacts": len(items),
                "batchId": batch.id,
                "message": "Contact import queued",
            }
        )

    async def import_info(self, request: Request) -> Response:
        batch_id = request.query_params.get("batchId")
        if not batch_id:
            return JSONResponse({"success": 0, "message": "'batchId' is a required field."}, 400)
        batch = self.account.batches.get(batch_id)
        if batch is None:
            return no_result("Import", batch_id)
        return JSONResponse(
            {"status": batch.status, "success": batch.success, "failure": batch.failure}
        )


def _bulk_error(message: str, reasons: list[Any]) -> Response:
    return JSONResponse({"success": 0, "message": message, "failureReasons": reasons}, 400)
