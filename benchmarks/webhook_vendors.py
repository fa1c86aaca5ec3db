"""The vendors' side of benchmarks/webhooks.py, in a process of its own.

The Shopify emulator (the source: it takes the orders and delivers their webhooks) and the
ActiveCampaign emulator (the destination), the orders' client threads and the watch for the
tags run here, in a child process, so that the benchmark's process runs syncd's daemon side
(its webhook ingest and micro-cycles) alone, as in production where the vendors are other
machines. The benchmark talks to it over a pipe: ``Vendors.measure`` sends the e-mails and the
rate, the child makes the orders, waits for their tags and answers with the latencies (taken
here, by one clock) and what the shop's courier posted.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import httpx

from syncd.emulator import running
from syncd.logs import configure_logging
from syncd_plugins.activecampaign.emulator import ActiveCampaignEmulator
from syncd_plugins.shopify.emulator import ShopifyEmulator

RAISED = 10_000.0


@dataclass
class Measured:
    """One rate's orders: the answered count, the latency of each tagged, and the shop's
    webhook posts since the first order (how many, refused, when the last was answered)."""

    sent: int
    latencies: list[float]
    posts: int
    refused: int
    answered: float


class Watch:
    """Polls the destination emulator for the BUYER tag of the e-mails sent."""

    def __init__(self, esp: ActiveCampaignEmulator) -> None:
        self.esp = esp
        self.sent: dict[str, float] = {}  # e-mail → when its order was answered
        self.seen: dict[str, float] = {}
        self.failed: set[str] = set()  # e-mails whose order the shop did not answer
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        # look up every waiting e-mail only when a contact was tagged since the last look
        # (tags are only added here; and on the look after, for a row stored just after its
        # id was taken), else only those whose order was answered since
        tagged_mark, again, looked = -1, True, 0
        while not self.stop.is_set():
            mark = self.esp.account.next_ids["contactTags"]
            with self.lock:
                sent = list(self.sent)
                fresh = sent[looked:]
                looked = len(sent)
                waiting = [e for e in sent if e not in self.seen]
            if mark == tagged_mark and not again:
                waiting = [e for e in fresh if e not in self.seen]
            again, tagged_mark = mark != tagged_mark, mark
            if waiting:
                tag = self.esp.account.tag_by_name("BUYER")
                now = time.monotonic()
                for email in waiting if tag is not None else []:
                    contact = self.esp.account.contact_by_email(email)
                    if contact and self.esp.account.find(
                        "contactTags", contact=contact["id"], tag=tag["id"]
                    ):
                        with self.lock:
                            self.seen[email] = now
            self.stop.wait(0.02)


def fire(shop_url: str, token: str, emails: list[str], rate: float, watch: Watch) -> None:
    """One order per e-mail, one every 1/rate s (open loop: a slow answer does not slow the
    next one down), each from its own thread."""
    client = httpx.Client(base_url=shop_url, headers={"X-Shopify-Access-Token": token})
    start = time.monotonic()
    threads = []

    def order(email: str) -> None:
        body = {"order": {"email": email, "line_items": [{"title": "Mug", "price": "12.00"}]}}
        try:
            answer = client.post("/admin/api/2024-10/orders.json", json=body, timeout=30)
            answer.raise_for_status()
        except httpx.HTTPError:
            with watch.lock:
                watch.failed.add(email)  # no answer to measure from: counted, not waited for
            return
        with watch.lock:
            watch.sent[email] = time.monotonic()

    for n, email in enumerate(emails):
        delay = start + n / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        thread = threading.Thread(target=order, args=(email,), daemon=True)
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join()
    client.close()


def measure(
    shop: ShopifyEmulator,
    shop_url: str,
    watch: Watch,
    emails: list[str],
    rate: float,
    hooks: bool = True,
) -> Measured:
    """Fire the orders, wait for their tags (2 minutes at most). Unless ``hooks``, the shop
    delivers no webhook while it takes them (as if no subscription were registered: it keeps
    its subscriptions for the next orders) and their tags are not waited for."""
    wall = time.time()
    subscriptions = shop.hooks.rows
    if not hooks:
        shop.hooks.rows = {}
    try:
        fire(shop_url, shop.access_token, emails, rate, watch)
    finally:
        shop.hooks.rows = subscriptions
    deadline = time.monotonic() + (120 if hooks else 0)
    while time.monotonic() < deadline:
        with watch.lock:
            if all(e in watch.seen or e in watch.failed for e in emails):
                break
        time.sleep(0.05)
    with watch.lock:
        sent = [e for e in emails if e in watch.sent]
        latencies = [watch.seen[e] - watch.sent[e] for e in sent if e in watch.seen]
    posts = [a for a in shop.hooks.courier.attempts() if a.at >= wall]
    return Measured(
        sent=len(sent),
        latencies=latencies,
        posts=len(posts),
        refused=sum(1 for a in posts if not 200 <= a.status < 300),
        answered=max((a.at for a in posts), default=wall) - wall,
    )


def serve(conn: Connection, secret: str, vendor_limits: bool, webhook_workers: int) -> None:
    """The child: serve both emulators, send their URLs and tokens, then answer
    ``("measure", emails, rate, hooks)`` with a ``Measured`` until ``("stop",)``."""
    configure_logging("warning")
    limit = None if vendor_limits else 0
    raised = {} if vendor_limits else {"cost_restore": RAISED, "cost_max": RAISED}
    shop = ShopifyEmulator(
        people=20,
        rate_limit=limit,
        **raised,  # the GraphQL points a scheduled cycle's pull spends, as for a Plus store
        client_secret=secret,
        webhook_workers=webhook_workers,
    )
    esp = ActiveCampaignEmulator(people=20, rate_limit=limit)
    with running(shop) as shop_url, running(esp) as esp_url:
        conn.send((shop_url, shop.access_token, esp_url, esp.token))
        watch = Watch(esp)
        while True:
            request = conn.recv()
            if request[0] != "measure":
                break
            conn.send(measure(shop, shop_url, watch, *request[1:]))
        watch.stop.set()


class Vendors:
    """The emulators' process, seen from the benchmark's."""

    def __init__(self, secret: str, vendor_limits: bool, webhook_workers: int) -> None:
        context = multiprocessing.get_context("spawn")  # not a fork of a threaded process
        self.conn, child = context.Pipe()
        self.process = context.Process(
            target=serve,
            args=(child, secret, vendor_limits, webhook_workers),
            name="syncd-bench-vendors",
            daemon=True,
        )
        self.process.start()
        child.close()
        self.shop_url, self.shop_token, self.esp_url, self.esp_token = self._recv()

    def _recv(self) -> Any:
        if not self.conn.poll(60):
            raise RuntimeError("the emulators' process did not answer within 60 s")
        return self.conn.recv()

    def measure(self, emails: list[str], rate: float, hooks: bool = True) -> Measured:
        self.conn.send(("measure", emails, rate, hooks))
        while not self.conn.poll(1):
            if not self.process.is_alive():
                raise RuntimeError("the emulators' process ended")
        out: Measured = self.conn.recv()
        return out

    def close(self) -> None:
        if self.process.is_alive():
            self.conn.send(("stop",))
            self.process.join(10)
        self.conn.close()
