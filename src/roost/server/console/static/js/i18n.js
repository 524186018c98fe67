// The console's text in English and Chinese; the choice is kept in localStorage.
const zh = {
  "Language": "语言", "Sign out": "退出", "Sign in": "登录", "Skip to content": "跳到内容",
  "API key": "API 密钥", "Sign in with an API key": "使用 API 密钥登录",
  "The key is kept in an HttpOnly cookie of this browser for 12 hours.": "密钥保存在本浏览器的 HttpOnly Cookie 中，有效期 12 小时。",
  "Build": "构建", "Observe": "观测", "Govern": "治理", "Reference": "参考",
  "Chat": "对话", "Sessions": "会话", "Usage": "用量", "Metrics": "指标", "Alerts": "告警",
  "Knowledge": "知识库", "API keys": "API 密钥", "Audit": "审计", "Tenants": "租户", "Roles": "角色",
  "Secrets": "密钥库", "Evaluation": "评测", "API reference": "API 参考",
  "Agent": "智能体", "New chat": "新对话", "History": "历史", "Send": "发送", "Stop": "停止",
  "Message": "消息", "Type a message": "输入消息", "Approve": "批准", "Reject": "拒绝",
  "Tool call": "工具调用", "Result": "结果", "Arguments": "参数", "approved": "已批准", "rejected": "已拒绝",
  "Waiting for approval": "等待批准", "Run": "运行", "Status": "状态", "Trace": "追踪",
  "User": "用户", "Tenant": "租户", "Created": "创建时间", "Updated": "更新时间", "Search": "搜索",
  "Next page": "下一页", "First page": "第一页", "All": "全部", "Since": "起始",
  "Session": "会话", "Runs": "运行记录", "Events": "事件", "Open trace": "打开追踪",
  "Spans": "跨度", "Duration": "耗时", "Tokens": "Token", "Cost": "成本", "Model": "模型",
  "No spans": "没有跨度", "Range": "时间范围", "Last hour": "最近 1 小时", "Last 24 hours": "最近 24 小时",
  "Last 7 days": "最近 7 天", "Tokens by agent": "按智能体的 Token", "Cost by agent": "按智能体的成本",
  "Runs by agent": "按智能体的运行数", "Totals": "合计", "Group by": "分组",
  "Live metrics (this server)": "实时指标（本服务器）", "Runs/s": "运行/秒", "Tokens/s": "Token/秒",
  "Error rate": "错误率", "Run latency p50 / p95 (s)": "运行延迟 p50 / p95（秒）",
  "Sandbox pool": "沙箱池", "Rules": "规则", "State": "状态", "Firing history": "触发历史",
  "Name": "名称", "Role": "角色", "Create key": "创建密钥", "Revoke": "吊销", "Revoked": "已吊销",
  "Copy it now: it is shown once.": "请立即复制：只显示一次。", "Prefix": "前缀",
  "Knowledge bases": "知识库", "Documents": "文档", "Query": "查询", "Nothing here yet.": "暂无内容。",
  "Loading…": "加载中…", "Not found": "未找到", "Value": "值", "Severity": "级别", "Since ": "自",
  "Threshold": "阈值", "When": "时间", "Change": "变化", "Transcript": "对话记录",
  "Waterfall": "瀑布图", "Details": "详情", "Filter this page": "筛选本页",
  "Collected every 5 s while this page is open.": "本页打开期间每 5 秒采集一次。",
  "Canceled": "已取消", "Reconnecting…": "正在重连…", "Resumed after reload": "重新加载后已恢复",
  "Error": "错误", "Description": "描述", "Path": "路径", "Method": "方法", "Summary": "摘要",
  "Admins only": "仅管理员", "Select an agent": "选择智能体", "Start": "开始", "Input": "输入",
  "Output": "输出", "Total": "合计", "Currency": "货币",
  "Action": "操作", "Target type": "对象类型", "Target": "对象", "Outcome": "结果", "Until": "截止",
  "Time": "时间", "Actor": "操作者", "Hash": "哈希", "Verify chain": "校验哈希链",
  "Chain intact": "哈希链完整", "records": "条记录", "signatures checked": "签名已校验",
  "Chain broken": "哈希链已损坏", "first bad record": "首条异常记录", "Export CSV": "导出 CSV",
  "Export JSONL": "导出 JSONL", "Legal holds": "法律保留", "Reason": "原因",
  "Delete secret": "删除密钥", "Delete": "删除", "Deleted": "已删除", "Copy": "复制", "Copied": "已复制",
  "Managed by Roost": "由 Roost 管理", "Saved": "已保存", "version": "版本", "Save secret": "保存密钥",
  "Secret reference": "密钥引用", "Version": "版本",
  "Values are stored encrypted and never shown; agents and tools refer to a secret as secret://NAME.": "值加密存储，永不显示；智能体和工具以 secret://NAME 引用密钥。",
  // tenants
  "Enable": "启用", "Disable": "停用", "enabled": "已启用", "disabled": "已停用", "Quotas": "配额",
  "Enable tenant {id}?": "启用租户 {id}？",
  "Disable tenant {id}? Its keys stop working at once; its data stays.": "停用租户 {id}？其密钥立即失效，数据保留。",
  "Runs per minute": "每分钟运行数", "Tokens per day": "每日 Token", "Tokens per month": "每月 Token",
  "Cost per day": "每日成本", "Cost per month": "每月成本", "Open sessions": "同时存在的会话", "Sandboxes": "沙箱",
  "unlimited": "不限", "used": "已用", "resets": "重置于", "Quota": "配额", "Limit": "上限",
  "An empty limit is unlimited.": "上限留空即不限。", "Save quotas": "保存配额", "Tenant ID": "租户 ID",
  "Create tenant": "创建租户", "ID": "ID",
  // evaluation
  "Datasets": "数据集", "Experiments": "实验", "Experiment": "实验", "Dataset": "数据集", "Cases": "用例",
  "Cases (one JSON per line)": "用例（每行一个 JSON）", "Create dataset": "创建数据集", "Run experiment": "运行实验",
  "Pass rate": "通过率", "Compare experiments": "对比实验", "Baseline": "基线", "Candidate": "候选", "Compare": "对比",
  "Improvements": "改进", "Regressions": "退化", "Unchanged": "不变", "improved": "改进", "regressed": "退化",
  "Releases": "灰度发布", "Stable": "稳定版本", "Weights": "流量权重",
  "Eval pass rate": "评测通过率", "Results": "结果", "Expected": "期望", "Scores": "评分", "Scorer": "评分器",
  "Passed": "通过", "Failed": "失败", "Errors": "错误", "passed": "通过", "failed": "失败", "error": "错误",
  "running": "运行中", "succeeded": "成功", "Latency": "延迟", "Gate": "门禁",
};
const tables = { zh };

export let lang = localStorage.getItem("roost.lang") || (navigator.language.startsWith("zh") ? "zh" : "en");
if (!(lang in tables) && lang !== "en") lang = "en";

export function t(text) {
  const table = tables[lang];
  return (table && table[text]) || text;
}

export function setLang(value) {
  lang = value === "zh" ? "zh" : "en";
  localStorage.setItem("roost.lang", lang);
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
}
