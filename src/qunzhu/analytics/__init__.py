"""Group analytics and the playbook diagnosis: metrics from the store, stage, health, advice.

`extract` asks the database for per-member-day aggregates; `metrics` and `people` turn them into
figures; `diagnosis` reads the figures against PLAYBOOK's rules; `report` puts one group's
answers in one dict that every output renders.
"""

from qunzhu.analytics.report import Report, ReportError, build_report

__all__ = ["Report", "ReportError", "build_report"]
