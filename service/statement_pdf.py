"""Income statements (收益明白卡) as PDF, one A4 page per household, with reportlab and a Chinese font.

The font is a TrueType file installed with the operating system (scripts/lib/setup.sh, the
Dockerfile: Debian's fonts-wqy-microhei); nothing is fetched at run time. FONT_PATH names it and
FONT_SUBFONT_INDEX picks the face of a .ttc collection.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable, Mapping
from typing import Any
from xml.sax.saxutils import escape

from flask import Response, current_app, send_file
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import KeepInFrame, PageBreak, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from service.errors import Coded, ServiceError
from service.statements import grouped, printed_on
from service.vocabulary import HOUSEHOLD_STATUS_LABELS
from service.xlsx import safe_filename, yuan_text

FONT_NAME = "StatementCJK"
PDF_MIMETYPE = "application/pdf"
MARGIN = 16 * mm
NOT_A_DECISION = "本卡数据仅反映消费帮扶带来的收益，不作为脱贫退出或监测识别的依据。"
_registered: dict[str, str] = {}  # font file → registered name, per process


class FontMissing(ServiceError):
    status, code = 503, "statement.font_missing"


def _font() -> str:
    """The registered Chinese font's name; a coded 503 when its file is not installed."""
    path = current_app.config["FONT_PATH"]
    index = int(current_app.config["FONT_SUBFONT_INDEX"])
    key = f"{path}#{index}"
    if key in _registered:
        return _registered[key]
    if not os.path.isfile(path):
        raise FontMissing(
            Coded(
                "statement.font_missing",
                f"The Chinese font {path} is not installed (FONT_PATH); run ./scripts/run once "
                "or install Debian's fonts-wqy-microhei.",
                path=path,
            )
        )
    name = f"{FONT_NAME}{len(_registered)}"
    pdfmetrics.registerFont(TTFont(name, path, subfontIndex=index))
    _registered[key] = name
    return name


def _styles(font: str) -> dict[str, ParagraphStyle]:
    base = ParagraphStyle("body", fontName=font, fontSize=10, leading=15, wordWrap="CJK")
    return {
        "title": ParagraphStyle("title", parent=base, fontSize=18, leading=26, alignment=1),
        "subtitle": ParagraphStyle("subtitle", parent=base, fontSize=11, alignment=1),
        "body": base,
        "cell": ParagraphStyle("cell", parent=base, fontSize=9, leading=12),
        "small": ParagraphStyle(
            "small", parent=base, fontSize=8.5, leading=12, textColor=colors.HexColor("#444444")
        ),
        "code": ParagraphStyle("code", parent=base, fontSize=13, leading=18),
    }


def _p(text: Any, style: ParagraphStyle) -> Paragraph:
    return Paragraph(escape(str(text if text is not None else "—")), style)


def _month_text(month: str) -> str:
    return f"{int(month[5:7])}月"


def _mechanisms(item: Mapping[str, Any]) -> str:
    labels = [link.get("mechanism_label") for link in item.get("links") or [] if link.get("mechanism_label")]
    return "、".join(dict.fromkeys(labels)) or "—"


def _page(statement: Mapping[str, Any], styles: dict[str, ParagraphStyle], width: float) -> list[Any]:
    """One household's page, in plain words a household can check with a calculator."""
    household, income, year = statement["household"], statement["income"], statement["year"]
    cell = styles["cell"]
    place = " ".join(name for name in (household.get("township_name"), household.get("village_name")) if name)
    who = Table(
        [
            [_p("户编号", cell), _p(household["household_no"], cell), _p("所在村", cell), _p(place, cell)],
            [
                _p("户主", cell),
                _p(household["head_name_masked"], cell),
                _p("身份证号", cell),
                _p(household.get("id_number_masked"), cell),
            ],
            [
                _p("家庭人口", cell),
                _p(f"{household.get('members')}人", cell),
                _p("户类型", cell),
                _p(HOUSEHOLD_STATUS_LABELS.get(household.get("status") or "", household.get("status")), cell),
            ],
        ],
        colWidths=[width * 0.14, width * 0.30, width * 0.14, width * 0.42],
    )
    who.setStyle(_grid())
    rows = [
        [
            _p(text, cell)
            for text in (
                "月份",
                "经营主体",
                "带贫方式",
                "收益池（元）",
                "本户权重×天数／合计",
                "本户分得（元）",
            )
        ]
    ]
    for item in income["items"]:
        rows.append(
            [
                _p(_month_text(item["month"]), cell),
                _p(item.get("operator_name") or "—", cell),
                _p(_mechanisms(item), cell),
                _p(yuan_text(item["pool_fen"]), cell),
                _p(f"{item['weighted']} ／ {item['total_weighted']}", cell),
                _p(yuan_text(item["share_fen"]), cell),
            ]
        )
    rows.append([_p("全年合计", cell), "", "", "", "", _p(yuan_text(income["total_fen"]), cell)])
    shares = Table(
        rows,
        colWidths=[width * r for r in (0.08, 0.28, 0.16, 0.14, 0.20, 0.14)],
        repeatRows=1,
    )
    shares.setStyle(_grid(header=True, total_row=len(rows) - 1))
    content = [
        _p("消费帮扶收益明白卡", styles["title"]),
        _p(f"{year}年度", styles["subtitle"]),
        Spacer(1, 4 * mm),
        who,
        Spacer(1, 4 * mm),
        _p(
            f"{year}年，您家从消费帮扶中预计获得收益 {yuan_text(income['total_fen'])} 元，"
            f"经营主体已实际支付到户 {yuan_text(income['paid_fen'])} 元。"
            "下表逐月列出收益来自哪个经营主体、以什么方式带贫、是怎样算出来的。",
            styles["body"],
        ),
        Spacer(1, 3 * mm),
        shares,
        Spacer(1, 3 * mm),
        _p(f"怎样算的：{income['method']}", styles["small"]),
        Spacer(1, 2 * mm),
        _p(
            "预计收益是按上面的办法算出的应得数；实际到户是经营主体已登记支付给您家的钱（分红、务工工资、"
            "收购加价等）。两者不一致时，可向村里或乡镇询问。",
            styles["small"],
        ),
        Spacer(1, 4 * mm),
        _p(f"核验码：{grouped(statement['code'])}", styles["code"]),
        _p(
            "工作人员在系统的“收益明白卡核验”中输入此码，可调出本卡的数字；数字此后如有变化，系统会提示本卡已更新。",
            styles["small"],
        ),
        Spacer(1, 2 * mm),
        _p(NOT_A_DECISION, styles["small"]),
        _p(f"打印日期：{printed_on()}", styles["small"]),
    ]
    if income.get("stale_partitions"):
        content.append(_p("注意：部分月份的台账正在重新计算，数字可能还会变化。", styles["small"]))
    return content


def _grid(*, header: bool = False, total_row: int | None = None) -> TableStyle:
    commands: list[tuple] = [
        ("GRID", (0, 0), (-1, -1), 0.5, colors.HexColor("#888888")),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
    ]
    if header:
        commands.append(("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eeeeee")))
    if total_row is not None:
        commands.append(("SPAN", (0, total_row), (4, total_row)))
    return TableStyle(commands)


def render(statements: Iterable[Mapping[str, Any]], title: str) -> bytes:
    """The statements as one PDF, exactly one page each (a long page is shrunk to fit)."""
    styles = _styles(_font())
    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN,
        bottomMargin=MARGIN,
        title=title,
        author="消费帮扶",
        invariant=1,
    )
    width, height = document.width, document.height
    story: list[Any] = []
    for statement in statements:
        if story:
            story.append(PageBreak())
        story.append(KeepInFrame(width, height, _page(statement, styles, width), mode="shrink"))
    document.build(story)
    return buffer.getvalue()


def send_pdf(data: bytes, filename: str) -> Response:
    """A download of statement bytes, never cached (they carry names, however masked)."""
    response = send_file(
        io.BytesIO(data),
        mimetype=PDF_MIMETYPE,
        as_attachment=True,
        download_name=safe_filename(filename),
        max_age=0,
    )
    response.headers["Cache-Control"] = "private, no-store"
    return response
