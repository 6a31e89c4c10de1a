"""Taobao/Tmall open platform (淘宝开放平台, TOP-style signed API): orders pulled as sale lines.

Three layers, the first two pure:

- request signing (:func:`sign`, :func:`signed_params`): ``sign`` is the uppercase hex MD5 of
  ``secret + key1value1key2value2… + secret`` over every parameter but ``sign``, sorted by key;
- response mapping (:func:`parse_page`, :func:`order_line`): the orders of one page as
  ``SaleLine``/``RowError`` values, with statuses mapped like the taobao export;
- :class:`TopClient`: one window's pages fetched through a ``requests.Session`` passed in.
  Transport retries (timeouts, dropped connections, 429 and 5xx, honouring ``Retry-After``,
  exponential backoff with jitter) are urllib3's ``Retry`` mounted by :func:`make_session`;
  other 4xx are not retried. A TOP ``error_response`` is fatal (bad signature, bad app key,
  bad parameters cannot heal by retrying) except the rate-limit codes in
  :data:`RATE_LIMITED_CODES`, which arrive as HTTP 200 and so are retried by a small explicit
  loop here, with the same backoff; a truncated body or unreadable JSON is retried the same way.

The app secret is used only to compute ``sign``: it is never sent, logged, or put in a message.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import IO, Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from adapters.base import RowError, SaleLine, Skipped, register
from adapters.errors import Coded
from adapters.quoting import quoted
from adapters.tabular import SHANGHAI, parse_local_datetime, parse_yuan_to_fen

log = logging.getLogger(__name__)

NAME = "taobao-api"
CHANNEL = "taobao"
DEFAULT_METHOD = "taobao.trades.sold.increment.get"
TOP_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
RETRY_STATUSES = (429, 500, 502, 503, 504)
# TOP's "App Call Limited" (code 7) and its access-control sub codes: the only errors worth waiting out.
RATE_LIMITED_CODES = frozenset({"7"})
RATE_LIMITED_SUB_CODE_PREFIXES = ("accesscontrol.limited", "isv.access-limited")
# A runaway has_next must not page forever.
MAX_PAGES_PER_WINDOW = 1000

# Order statuses (交易状态), mapped like the taobao export: paid, shipped and finished count;
# a closed order zeroes the line if it had been paid and is skipped if it never was.
COUNTED_STATUSES = frozenset(
    {
        "WAIT_SELLER_SEND_GOODS",  # 买家已付款
        "SELLER_CONSIGNED_PART",  # 卖家部分发货
        "WAIT_BUYER_CONFIRM_GOODS",  # 卖家已发货
        "TRADE_BUYER_SIGNED",  # 买家已签收
        "TRADE_FINISHED",  # 交易成功
    }
)
CLOSED_STATUSES = frozenset({"TRADE_CLOSED", "TRADE_CLOSED_BY_TAOBAO"})  # 交易关闭 (退款或未付款)
UNPAID_STATUSES = frozenset({"TRADE_NO_CREATE_PAY", "WAIT_BUYER_PAY", "PAY_PENDING", "WAIT_PRE_AUTH_CONFIRM"})


class PullError(Exception):
    """The pull cannot go on."""


class TopError(PullError):
    """An ``error_response`` from the platform."""

    def __init__(self, code: Any, msg: Any, sub_code: Any = None):
        self.code = str(code)
        self.msg = str(msg or "")
        self.sub_code = str(sub_code) if sub_code else None
        super().__init__(
            f"TOP error {self.code}: {self.msg}" + (f" ({self.sub_code})" if self.sub_code else "")
        )

    @property
    def rate_limited(self) -> bool:
        return self.code in RATE_LIMITED_CODES or (
            self.sub_code is not None and self.sub_code.startswith(RATE_LIMITED_SUB_CODE_PREFIXES)
        )


class TransportError(PullError):
    """The platform could not be reached or kept failing.

    ``retry_here``: a failure the session's transport retries never saw (a body cut off or
    unreadable after the headers arrived), so the client retries it itself.
    """

    def __init__(self, message: str, *, retry_here: bool = False):
        super().__init__(message)
        self.retry_here = retry_here


class ProtocolError(PullError):
    """A response that does not have the documented shape."""


# Signing ----------------------------------------------------------------------------------------


def top_time(moment: datetime) -> str:
    """A moment as TOP writes it: ``yyyy-MM-dd HH:mm:ss`` in Asia/Shanghai."""
    return moment.astimezone(SHANGHAI).strftime(TOP_TIME_FORMAT)


def sign(params: Mapping[str, Any], secret: str) -> str:
    """Uppercase hex MD5 of secret + concatenated sorted key+value pairs + secret (``sign`` excluded)."""
    body = "".join(
        f"{key}{params[key]}" for key in sorted(params) if key != "sign" and params[key] is not None
    )
    # MD5 is the platform's signing scheme (sign_method=md5), not our choice of hash.
    return hashlib.md5(f"{secret}{body}{secret}".encode()).hexdigest().upper()  # noqa: S324


def signed_params(
    *,
    app_key: str,
    secret: str,
    method: str,
    start: datetime,
    end: datetime,
    page_no: int,
    page_size: int,
    now: datetime,
) -> dict[str, str]:
    """The query string of one page request, signed."""
    params = {
        "app_key": app_key,
        "method": method,
        "timestamp": top_time(now),
        "sign_method": "md5",
        "start_modified": top_time(start),
        "end_modified": top_time(end),
        "page_no": str(page_no),
        "page_size": str(page_size),
    }
    params["sign"] = sign(params, secret)
    return params


# Mapping ----------------------------------------------------------------------------------------


class _Invalid(Exception):
    def __init__(self, field_name: str, message: str):
        super().__init__(message)
        self.field = field_name
        self.message = message


def _text(order: Mapping[str, Any], name: str) -> str | None:
    value = order.get(name)
    if value is None or isinstance(value, bool):
        return None
    text = str(value).strip()
    return text or None


def _fen(order: Mapping[str, Any], name: str, *, required: bool) -> int | None:
    text = _text(order, name)
    if text is None:
        if required:
            raise _Invalid(name, f"{name} is missing.")
        return None
    try:
        fen = parse_yuan_to_fen(text)
    except ValueError as error:
        raise _Invalid(name, str(error)) from None
    if fen < 0:
        raise _Invalid(name, f"{name} cannot be negative.")
    return fen


def _time(order: Mapping[str, Any], name: str) -> datetime:
    text = _text(order, name)
    if text is None:
        raise _Invalid(name, f"{name} is missing.")
    try:
        return parse_local_datetime(text)
    except ValueError as error:
        raise _Invalid(name, str(error)) from None


def _quantity(order: Mapping[str, Any]) -> int:
    value = order.get("num")
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if type(value) is not int or value < 1:
        raise _Invalid("num", "num must be a whole number of at least 1.")
    return value


Item = SaleLine | RowError | Skipped


def order_line(order: Any, row: int | None = None) -> Item:
    """One order line of a page as a sale line, or Skipped for an order that was never paid.

    ``external_id`` is the order id here; :func:`with_item_ids` gives the lines of an order
    of several items their own ids, as the taobao export does.
    """
    if not isinstance(order, dict):
        return RowError(row, None, "An order must be a JSON object.")
    order_id = _text(order, "order_id")
    if order_id is None:
        return RowError(row, "order_id", "order_id is missing.")
    status = _text(order, "status")
    try:
        if status in UNPAID_STATUSES:
            return Skipped(
                row, Coded("skip.unpaid", f"status {status}: not paid, not a sale.", status=status)
            )
        if status in CLOSED_STATUSES:
            if _text(order, "pay_time") is None:
                return Skipped(
                    row,
                    Coded(
                        "skip.closed_unpaid",
                        f"status {status}: closed before payment, not a sale.",
                        status=status,
                    ),
                )
            # Closed after payment (refunded): the line stays with its quantity and a zero amount, exactly as
            # the export adapter writes it, so file and API imports of one order agree.
            quantity, amount_fen = _quantity(order), 0
        elif status in COUNTED_STATUSES:
            quantity, amount_fen = _quantity(order), _fen(order, "payment", required=True)
        else:
            raise _Invalid("status", f"Unknown order status {quoted(status)}.")
        line = SaleLine(
            channel=CHANNEL,
            external_id=order_id,
            occurred_at=_time(order, "pay_time"),
            quantity=quantity,
            amount_fen=amount_fen,  # type: ignore[arg-type]  # required above
            unit_price_fen=_fen(order, "price", required=False),
            sku=_text(order, "outer_sku_id"),
            title=_text(order, "title"),
            row=row,
        )
    except _Invalid as problem:
        return RowError(row, problem.field, f"Order {order_id}: {problem.message}")
    return line


def with_item_ids(items: Iterable[Item]) -> list[Item]:
    """Lines of an order naming several items get ``order_id-商家编码`` (or ``-title``) ids.

    The taobao export's rule, so the file and the API give an order's lines the same ids and
    the ledger de-duplicates the two; an order with one item keeps the bare order id. Apply it
    to a whole window: all lines of an order share its modified time, so they fall in one.
    """
    items = list(items)
    names: dict[str, set[str | None]] = defaultdict(set)
    for item in items:
        if isinstance(item, SaleLine):
            names[item.external_id].add(item.sku or item.title)
    return [
        replace(item, external_id=f"{item.external_id}-{item.sku or item.title}")
        if isinstance(item, SaleLine) and len(names[item.external_id]) > 1 and (item.sku or item.title)
        else item
        for item in items
    ]


@dataclass(frozen=True)
class Page:
    items: list[Item]
    has_next: bool
    orders: int


def parse_page(payload: Any, first_row: int = 1) -> Page:
    """A decoded response body as lines and row errors; raises TopError for an ``error_response``."""
    if isinstance(payload, dict) and "error_response" in payload:
        error = payload["error_response"] if isinstance(payload["error_response"], dict) else {}
        raise TopError(error.get("code"), error.get("msg"), error.get("sub_code"))
    if not isinstance(payload, dict) or not isinstance(payload.get("orders"), list):
        raise ProtocolError("The response has no 'orders' list.")
    items = [order_line(order, first_row + offset) for offset, order in enumerate(payload["orders"])]
    return Page(items=items, has_next=payload.get("has_next") is True, orders=len(payload["orders"]))


# Fetching ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TopSettings:
    """Where and how to call the platform; the secret is kept out of repr (and so out of logs)."""

    base_url: str
    app_key: str
    app_secret: str = field(repr=False)
    method: str = DEFAULT_METHOD
    page_size: int = 100
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    retries: int = 5
    backoff_factor: float = 0.5
    backoff_max: float = 60.0
    backoff_jitter: float = 0.5


def make_session(settings: TopSettings) -> requests.Session:
    """A session retrying timeouts, dropped connections, 429 and 5xx with backoff; other 4xx are final."""
    retry = Retry(
        total=settings.retries,
        connect=settings.retries,
        read=settings.retries,
        status=settings.retries,
        other=0,
        allowed_methods=frozenset({"GET"}),
        status_forcelist=RETRY_STATUSES,
        backoff_factor=settings.backoff_factor,
        backoff_max=settings.backoff_max,
        backoff_jitter=settings.backoff_jitter,
        respect_retry_after_header=True,
        # The last 429/5xx comes back as a response, so its error_response can be reported.
        raise_on_status=False,
    )
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


class TopClient:
    """Pages of one time window, fetched through a session that already retries transport failures."""

    def __init__(
        self,
        session: requests.Session,
        settings: TopSettings,
        *,
        clock: Callable[[], datetime],
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.session = session
        self.settings = settings
        self.clock = clock
        self.sleep = sleep

    def _backoff(self, attempt: int) -> float:
        settings = self.settings
        delay = min(settings.backoff_max, settings.backoff_factor * (2**attempt))
        return delay + random.uniform(0, settings.backoff_jitter)  # noqa: S311 - jitter, not secrecy

    def _get(self, start: datetime, end: datetime, page_no: int) -> Any:
        """One page's decoded body; transport failures left after the session's retries are raised."""
        settings = self.settings
        params = signed_params(
            app_key=settings.app_key,
            secret=settings.app_secret,
            method=settings.method,
            start=start,
            end=end,
            page_no=page_no,
            page_size=settings.page_size,
            now=self.clock(),
        )
        try:
            response = self.session.get(
                settings.base_url, params=params, timeout=(settings.connect_timeout, settings.read_timeout)
            )
        except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError):
            raise TransportError(f"GET {settings.base_url}: the body was cut off.", retry_here=True) from None
        except requests.RequestException as error:
            # Already retried by the session. The exception text carries the signed URL: name only its kind.
            raise TransportError(f"GET {settings.base_url} failed: {type(error).__name__}.") from None
        try:
            payload = json.loads(response.content)
        except ValueError:
            payload = None
        if isinstance(payload, dict) and "error_response" in payload:
            return payload
        if response.status_code != 200:
            raise TransportError(f"GET {settings.base_url} answered HTTP {response.status_code}.")
        if payload is None:
            raise TransportError(
                f"GET {settings.base_url} answered a body that is not JSON.", retry_here=True
            )
        return payload

    def fetch_page(self, start: datetime, end: datetime, page_no: int, first_row: int = 1) -> Page:
        """One page, waiting out rate-limit errors and unreadable bodies a few times with backoff."""
        attempt = 0
        while True:
            try:
                return parse_page(self._get(start, end, page_no), first_row)
            except (TopError, TransportError) as error:
                again = error.rate_limited if isinstance(error, TopError) else error.retry_here
                if not again or attempt >= self.settings.retries:
                    raise
                delay = self._backoff(attempt)
                log.warning("Taobao API page %s: %s; retrying in %.2f s.", page_no, error, delay)
                self.sleep(delay)
                attempt += 1

    def fetch_window(self, start: datetime, end: datetime) -> Iterator[Page]:
        """Every page of the orders modified from ``start`` to ``end``, until ``has_next`` is false."""
        first_row = 1
        for page_no in range(1, MAX_PAGES_PER_WINDOW + 1):
            page = self.fetch_page(start, end, page_no, first_row)
            yield page
            if not page.has_next:
                return
            if page.orders == 0:
                raise ProtocolError(f"Page {page_no} is empty but says more pages follow.")
            first_row += page.orders
        raise ProtocolError(f"More than {MAX_PAGES_PER_WINDOW} pages in one window.")


@register
class TaobaoApiAdapter:
    """The open-platform pull (``flask --app service sales pull --channel taobao-api``).

    Reads no uploaded files (``media`` is empty); ``parse`` reads one saved response page,
    for replaying a captured page through the same mapping as the pull.
    """

    name = NAME
    channel = CHANNEL
    label = "淘宝开放平台接口"
    media: tuple[str, ...] = ()

    def parse(self, stream: IO[bytes], filename: str) -> Iterator[Item]:
        try:
            payload = json.load(stream)
        except ValueError as error:
            yield RowError(None, None, f"The file is not a JSON response page: {error}.")
            return
        try:
            page = parse_page(payload)
        except PullError as error:
            yield RowError(None, None, str(error))
            return
        yield from with_item_ids(page.items)
