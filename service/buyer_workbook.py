"""The buyers report as a workbook (帮扶单位采购统计表): the totals, by pairing, by partner region and
by buying unit, one sheet each; the API and the pages send the same file."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from service import xlsx

_SUMS = (
    xlsx.Column("直接购买(元)", "direct_fen", xlsx.FEN),
    xlsx.Column("帮助销售(元)", "helped_fen", xlsx.FEN),
    xlsx.Column("合计(元)", "total_fen", xlsx.FEN),
    xlsx.Column("其中已由电商渠道导入(元)", "double_counted_fen", xlsx.FEN),
    xlsx.Column("笔数", "lines", xlsx.INTEGER),
)


def filename(report: Mapping[str, Any]) -> str:
    return f"buyers-{report['county_code']}-{report['from_date']}-{report['to_date']}.xlsx"


def workbook(report: Mapping[str, Any]) -> bytes:
    sheets = [
        xlsx.Sheet(
            "汇总",
            (
                xlsx.Column("县", "county_code", xlsx.TEXT),
                xlsx.Column("起", "from_date", xlsx.DATE),
                xlsx.Column("止", "to_date", xlsx.DATE),
                *_SUMS,
                xlsx.Column("扶持脱贫人口(人)", "people_benefited", xlsx.INTEGER),
            ),
            [report],
        ),
        xlsx.Sheet(
            "按结对关系",
            (
                xlsx.Column("结对类型", "kind_label", xlsx.TEXT),
                xlsx.Column("协作地区", "partner_region_code", xlsx.TEXT),
                xlsx.Column("采购单位", "unit_name", xlsx.TEXT, width=30),
                *_SUMS,
            ),
            report["by_pairing"],
        ),
        xlsx.Sheet(
            "按协作地区",
            (xlsx.Column("协作地区", "partner_region_code", xlsx.TEXT), *_SUMS),
            report["by_region"],
        ),
        xlsx.Sheet(
            "按采购单位",
            (
                xlsx.Column("采购单位", "name", xlsx.TEXT, width=30),
                xlsx.Column("所在地区", "region_code", xlsx.TEXT),
                *_SUMS,
            ),
            report["by_unit"],
        ),
    ]
    return xlsx.write_xlsx(sheets)
