"""The writing side of the HubSpot emulator: contact batch upsert and batch read by e-mail,
lists v3 (create, find by name) and their memberships (add-and-remove)."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from syncd_plugins.hubspot.emulator_properties import render_property
from syncd_plugins.hubspot.emulator_state import OBJECT_TYPES, CrmList, Portal, stamp

BATCH_LIMIT = 100
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def error(
    status: int,
    category: str,
    message: str,
    *,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """HubSpot's error schema: ``status``, ``message``, ``correlationId`` (also sent as the
    ``X-HubSpot-Correlation-Id`` header) and ``category``, with any ``errors``, ``context``,
    ``subCategory`` given."""
    correlation = str(uuid.uuid4())
    body = {
        "status": "error",
        "message": message,
        "correlationId": correlation,
        "category": category,
        **extra,
    }
    return JSONResponse(
        body, status, headers={"X-HubSpot-Correlation-Id": correlation, **(headers or {})}
    )


def unknown_type(name: str) -> JSONResponse:
    """HubSpot's answer to an object type it does not know."""
    return error(400, "VALIDATION_ERROR", f"Unable to infer object type from: {name}")


def object_type(request: Request, param: str = "kind") -> str | None:
    """The object type named in the path (its name, singular or plural, or its id)."""
    return OBJECT_TYPES.get(str(request.path_params[param]).lower())


async def typed_body(request: Request) -> tuple[str, dict[str, Any]] | JSONResponse:
    """The object type named in the path and the JSON object sent; HubSpot's answer when
    either is not one."""
    kind = object_type(request)
    if kind is None:
        return unknown_type(request.path_params["kind"])
    body = await json_body(request)
    return body if isinstance(body, JSONResponse) else (kind, body)


async def json_body(
    request: Request,
    not_json: str = "Invalid input JSON on line 1",
    not_object: str = "Invalid input JSON: expected an object",
) -> dict[str, Any] | JSONResponse:
    """A request's JSON object, or HubSpot's 400 with ``not_json`` or ``not_object``."""
    try:
        data = json.loads(await request.body() or b"{}")
    except ValueError:
        return error(400, "VALIDATION_ERROR", not_json)
    if not isinstance(data, dict):
        return error(400, "VALIDATION_ERROR", not_object)
    return data


class PortalWrites:
    """Routes that change the portal; mixed into the emulator."""

    portal: Portal
    clock: Callable[[], datetime]
    paged: Callable[[Request, list[Any], int, int], Response]  # the emulator's paging

    async def batch_upsert(self, request: Request) -> Response:
        body = await json_body(request)
        if isinstance(body, JSONResponse):
            return body
        inputs = body.get("inputs")
        if not isinstance(inputs, list) or not inputs:
            return error(400, "VALIDATION_ERROR", "inputs must be a non-empty list")
        if len(inputs) > BATCH_LIMIT:
            return error(400, "VALIDATION_ERROR", f"Batch input limit is {BATCH_LIMIT}")
        known = self.portal.properties["contacts"]
        unknown: dict[str, list[str]] = {}
        for item in inputs:
            if item.get("idProperty") != "email" or not str(item.get("id", "")).strip():
                return error(400, "VALIDATION_ERROR", "each input needs idProperty email and id")
            if not EMAIL.match(str(item["id"]).strip()):
                return error(
                    400,
                    "VALIDATION_ERROR",
                    f"Email address {item['id']} is invalid",
                    errors=[
                        {
                            "message": f"Email address {item['id']} is invalid",
                            "code": "INVALID_EMAIL",
                            "context": {"id": [item["id"]]},
                        }
                    ],
                )
            for name in item.get("properties") or {}:
                if name not in known:
                    unknown.setdefault(name, []).append(str(item["id"]))
        for item in inputs:
            for name, value in (item.get("properties") or {}).items():
                allowed = {o["value"] for o in self.portal.options.get(name, [])}
                bad = [v for v in str(value or "").split(";") if v and v not in allowed]
                if name in self.portal.options and bad:
                    message = f"{bad[0]!r} was not one of the allowed options for {name}"
                    return error(
                        400,
                        "VALIDATION_ERROR",
                        message,
                        errors=[
                            {
                                "message": message,
                                "code": "INVALID_OPTION",
                                "context": {"propertyName": [name]},
                            }
                        ],
                    )
        if unknown:
            errors = [
                {
                    "message": f'Property "{n}" does not exist',
                    "code": "PROPERTY_DOESNT_EXIST",
                    "context": {"propertyName": [n]},
                }
                for n in unknown
            ]
            return error(
                400,
                "VALIDATION_ERROR",
                "Property values were not valid",
                errors=errors,
                context={"propertyName": sorted(unknown)},
            )
        now = self.clock()
        results = []
        for item in inputs:
            email = str(item["id"]).strip()
            props = {
                k: "" if v is None else str(v) for k, v in (item.get("properties") or {}).items()
            }
            obj = self.portal.by_email(email)
            new = obj is None
            if obj is None:
                obj = self.portal.add("contacts", {"email": email.lower(), **props}, now, now)
            else:
                obj.properties.update(props)
                self.portal.touch("contacts", obj, now)
            results.append({**obj.render([*props, "email"]), "new": new})
        return JSONResponse(
            {
                "status": "COMPLETE",
                "results": results,
                "startedAt": stamp(now),
                "completedAt": stamp(now),
            }
        )

    async def batch_read(self, request: Request) -> Response:
        body = await json_body(request)
        if isinstance(body, JSONResponse):
            return body
        inputs = body.get("inputs") or []
        if len(inputs) > BATCH_LIMIT:
            return error(400, "VALIDATION_ERROR", f"Batch input limit is {BATCH_LIMIT}")
        by_email = body.get("idProperty") == "email"
        names = body.get("properties") or ["email"]
        results, missing = [], []
        for item in inputs:
            ref = str(item.get("id", ""))
            obj = (
                self.portal.by_email(ref) if by_email else self.portal.objects["contacts"].get(ref)
            )
            if obj is None:
                missing.append(ref)
            else:
                results.append(obj.render(names))
        now = stamp(self.clock())
        reply: dict[str, Any] = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": now,
            "completedAt": now,
        }
        if missing:
            reply["numErrors"] = 1
            reply["errors"] = [
                {
                    "status": "error",
                    "category": "OBJECT_NOT_FOUND",
                    "message": "Could not get some CONTACT objects, they may be "
                    "deleted or not exist.",
                    "context": {"ids": missing},
                }
            ]
        return JSONResponse(reply, 207 if missing else 200)

    def bad_properties(self, kind: str, props: dict[str, str]) -> JSONResponse | None:
        """HubSpot's answer to property values it does not take: unknown names, read-only
        values, checkbox values outside the options."""
        unknown = sorted(set(props) - self.portal.properties[kind])
        if unknown:
            return error(
                400,
                "VALIDATION_ERROR",
                "Property values were not valid",
                errors=[
                    {
                        "message": f'Property "{n}" does not exist',
                        "code": "PROPERTY_DOESNT_EXIST",
                        "context": {"propertyName": [n]},
                    }
                    for n in unknown
                ],
            )
        for name, value in props.items():
            if name not in self.portal.options:
                continue
            allowed = {o["value"] for o in self.portal.options[name]}
            bad = [v for v in value.split(";") if v and v not in allowed]
            if bad:
                return error(
                    400,
                    "VALIDATION_ERROR",
                    f"{bad[0]!r} was not one of the allowed options for {name}",
                )
        return None

    async def create_object(self, request: Request) -> Response:
        """``POST /crm/v3/objects/{objectType}``: 201 with the new object; a contact whose
        e-mail is taken is a 409 naming the existing id."""
        found = await typed_body(request)
        if isinstance(found, JSONResponse):
            return found
        kind, body = found
        raw = body.get("properties")
        if not isinstance(raw, dict):
            return error(400, "VALIDATION_ERROR", "Invalid input JSON: properties is required")
        props = {k: "" if v is None else str(v) for k, v in raw.items()}
        if (bad := self.bad_properties(kind, props)) is not None:
            return bad
        if kind == "contacts" and props.get("email"):
            if not EMAIL.match(props["email"].strip()):
                return error(400, "VALIDATION_ERROR", f"Email address {props['email']} is invalid")
            taken = self.portal.by_email(props["email"])
            if taken is not None:
                return error(409, "CONFLICT", f"Contact already exists. Existing ID: {taken.id}")
            props["email"] = props["email"].strip().lower()
        links: list[str] = []
        for link in body.get("associations") or []:
            to = str((link.get("to") or {}).get("id", ""))
            if kind == "deals" and to not in self.portal.objects["contacts"]:
                return error(400, "VALIDATION_ERROR", f"No contact with id {to} to associate")
            if kind == "contacts" and to not in self.portal.objects["deals"]:
                return error(400, "VALIDATION_ERROR", f"No deal with id {to} to associate")
            links.append(to)
        now = self.clock()
        obj = self.portal.add(kind, props, now, now)
        if kind == "deals":
            obj.contacts = sorted(set(links), key=int)
        else:
            for deal_id in links:
                deal = self.portal.objects["deals"][deal_id]
                if obj.id not in deal.contacts:
                    deal.contacts.append(obj.id)
        return JSONResponse(obj.render(None), 201)

    async def update_object(self, request: Request) -> Response:
        kind = object_type(request)
        obj = self.portal.objects[kind].get(request.path_params["id"]) if kind else None
        if kind is None or obj is None:
            return error(404, "OBJECT_NOT_FOUND", "Object not found")
        body = await json_body(request)
        if isinstance(body, JSONResponse):
            return body
        props = {k: "" if v is None else str(v) for k, v in (body.get("properties") or {}).items()}
        if (bad := self.bad_properties(kind, props)) is not None:
            return bad
        if kind == "contacts" and props.get("email"):
            taken = self.portal.by_email(props["email"])
            if taken is not None and taken.id != obj.id:
                return error(409, "CONFLICT", f"Contact already exists. Existing ID: {taken.id}")
        obj.properties.update(props)
        self.portal.touch(kind, obj, self.clock())
        return JSONResponse(obj.render(None))

    async def archive_object(self, request: Request) -> Response:
        """``DELETE /crm/v3/objects/{objectType}/{id}``: 204, also when it is already gone."""
        kind = object_type(request)
        if kind is None:
            return unknown_type(request.path_params["kind"])
        obj = self.portal.objects[kind].get(request.path_params["id"])
        if obj is not None:
            self.portal.archive(kind, obj, self.clock())
        return Response(status_code=204)

    # --- properties -------------------------------------------------------------------------

    def render_property(self, kind: str, name: str) -> dict[str, Any]:
        return render_property(
            kind, name, self.portal.options.get(name), self.portal.owners, self.portal.now
        )

    async def list_properties(self, request: Request) -> Response:
        """``GET /crm/v3/properties/{objectType}``: every property of the type, no paging."""
        kind = object_type(request)
        if kind is None:
            return unknown_type(request.path_params["kind"])
        if request.query_params.get("archived", "false").lower() == "true":
            return JSONResponse({"results": []})
        names = sorted(self.portal.properties[kind])
        return JSONResponse({"results": [self.render_property(kind, n) for n in names]})

    async def get_property(self, request: Request) -> Response:
        kind = object_type(request)
        name = request.path_params["name"]
        if kind is None or name not in self.portal.properties[kind]:
            return error(404, "OBJECT_NOT_FOUND", f"Unable to find property {name}")
        return JSONResponse(self.render_property(kind, name))

    async def update_property(self, request: Request) -> Response:
        kind = object_type(request)
        name = request.path_params["name"]
        if kind is None or name not in self.portal.properties[kind]:
            return error(404, "OBJECT_NOT_FOUND", f"Unable to find property {name}")
        body = await json_body(request)
        if isinstance(body, JSONResponse):
            return body
        options = body.get("options")
        if options is not None:
            if name not in self.portal.options:
                return error(400, "VALIDATION_ERROR", f"{name} is not an enumeration property")
            if not all(isinstance(o, dict) and o.get("value") for o in options):
                return error(400, "VALIDATION_ERROR", "each option needs a value")
            self.portal.options[name] = [
                {
                    "label": str(o.get("label") or o["value"]),
                    "value": str(o["value"]),
                    "displayOrder": int(o.get("displayOrder", i)),
                    "hidden": bool(o.get("hidden")),
                }
                for i, o in enumerate(options)
            ]
        return JSONResponse(self.render_property(kind, name))

    # --- lists ------------------------------------------------------------------------------

    async def create_list(self, request: Request) -> Response:
        body = await json_body(request)
        if isinstance(body, JSONResponse):
            return body
        name = str(body.get("name") or "").strip()
        processing = body.get("processingType")
        if not name or body.get("objectTypeId") != "0-1":
            return error(400, "VALIDATION_ERROR", "name and objectTypeId 0-1 are required")
        if processing not in ("MANUAL", "SNAPSHOT", "DYNAMIC"):
            return error(400, "VALIDATION_ERROR", f"Unknown processingType {processing!r}")
        if any(lst.name.lower() == name.lower() for lst in self.portal.lists.values()):
            return error(
                400,
                "VALIDATION_ERROR",
                f"A list named '{name}' already exists.",
                subCategory="ILS.DUPLICATE_LIST_NAMES",
            )
        now = self.clock()
        lst = CrmList(self.portal.new_id(), name, processing, now, now)
        self.portal.lists[lst.id] = lst
        return JSONResponse({"list": lst.render()})

    async def list_by_name(self, request: Request) -> Response:
        name = unquote(request.path_params["name"]).lower()
        for lst in self.portal.lists.values():
            if lst.name.lower() == name:
                return JSONResponse({"list": lst.render()})
        return error(404, "OBJECT_NOT_FOUND", f"List does not exist with name {name}.")

    def find_list(self, request: Request) -> CrmList | None:
        return self.portal.lists.get(request.path_params["id"])

    async def get_list(self, request: Request) -> Response:
        lst = self.find_list(request)
        if lst is None:
            return error(404, "OBJECT_NOT_FOUND", "List does not exist.")
        return JSONResponse({"list": lst.render()})

    async def memberships(self, request: Request) -> Response:
        lst = self.find_list(request)
        if lst is None:
            return error(404, "OBJECT_NOT_FOUND", "List does not exist.")
        rows = [
            {"recordId": r, "membershipTimestamp": stamp(at)}
            for r, at in sorted(lst.members.items(), key=lambda m: int(m[0]))
        ]
        return self.paged(request, rows, 100, 250)

    async def add_and_remove(self, request: Request) -> Response:
        lst = self.find_list(request)
        if lst is None:
            return error(404, "OBJECT_NOT_FOUND", "List does not exist.")
        if lst.processing not in ("MANUAL", "SNAPSHOT"):
            return error(
                400,
                "VALIDATION_ERROR",
                f"List {lst.id} is {lst.processing}: only "
                "MANUAL and SNAPSHOT lists take membership changes",
            )
        body = await json_body(request)
        if isinstance(body, JSONResponse):
            return body
        adds = [str(r) for r in body.get("recordIdsToAdd") or []]
        removes = [str(r) for r in body.get("recordIdsToRemove") or []]
        if len(adds) + len(removes) > 100_000:
            return error(400, "VALIDATION_ERROR", "At most 100000 record ids a call")
        contacts = self.portal.objects["contacts"]
        now = self.clock()
        added, removed, missing = [], [], []
        for ref in dict.fromkeys(adds):
            if ref not in contacts:
                missing.append(ref)
            elif ref not in lst.members:
                lst.members[ref] = now
                added.append(ref)
        for ref in dict.fromkeys(removes):
            if ref not in contacts:
                missing.append(ref)
            elif lst.members.pop(ref, None) is not None:
                removed.append(ref)
        if added or removed:
            lst.updated = now
        return JSONResponse(
            {"recordsIdsAdded": added, "recordIdsRemoved": removed, "recordIdsMissing": missing}
        )
