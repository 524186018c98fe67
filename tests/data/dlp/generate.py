"""Writes labelled.jsonl: the DLP test set (written for Roost; no real person's data).

Run ``python tests/data/dlp/generate.py`` to rebuild it (seeded: the same file each
time). Each line: ``{"text", "lang", "entities": [{"kind", "value"}]}``; a negative
has no entities. Identity numbers and card numbers are generated with valid check
digits (region codes and issuer prefixes are real formats; the numbers are random).
Negatives are near misses on purpose: wrong check digits, order numbers, timestamps,
versions, landlines, amounts.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

R = random.Random(20261207)
W = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
C = "10X98765432"
REGIONS = [
    "110105",
    "310104",
    "440305",
    "510107",
    "330106",
    "420111",
    "610113",
    "120101",
    "320102",
    "500103",
    "210202",
    "370202",
    "350203",
    "130102",
    "230103",
    "650102",
]
NAMES_ZH = ["张伟", "王芳", "李娜", "刘洋", "陈静", "杨磊", "赵敏", "黄强", "周杰", "吴昊"]
NAMES_EN = ["Alice", "Bob", "Carol", "David", "Erin", "Frank", "Grace", "Henry"]


def cn_id(valid: bool = True) -> str:
    body = (
        R.choice(REGIONS) + f"{R.randint(1950, 2008)}{R.randint(1, 12):02d}{R.randint(1, 28):02d}"
    )
    body += f"{R.randint(0, 999):03d}"
    check = C[sum(int(c) * w for c, w in zip(body, W, strict=True)) % 11]
    if not valid:
        check = R.choice([c for c in "0123456789X" if c != check])
    return body + check


def luhn_digit(partial: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(partial)):
        d = int(ch)
        if i % 2 == 0:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return str((10 - total % 10) % 10)


def card(valid: bool = True, length: int = 16) -> str:
    prefix = R.choice(
        ["622202", "621700", "622848", "623668", "4367", "4000", "5187", "5500", "3782"]
    )
    if prefix == "3782":
        length = 15
    body = prefix + "".join(str(R.randint(0, 9)) for _ in range(length - len(prefix) - 1))
    check = luhn_digit(body)
    if not valid:
        check = str((int(check) + R.randint(1, 9)) % 10)
    return body + check


def grouped(number: str, sep: str = " ") -> str:
    return sep.join(number[i : i + 4] for i in range(0, len(number), 4))


def mobile() -> str:
    return (
        R.choice(["13", "15", "17", "18", "19", "14", "16"])
        + str(R.randint(0, 9))
        + f"{R.randint(0, 99999999):08d}"
    )


def email() -> str:
    user = R.choice(
        ["li.lei", "hanmeimei", "ops-team", "zhang.wei88", "alice", "bob.smith", "finance+q3"]
    )
    host = R.choice(
        ["example.com", "corp.example.cn", "mail.example.org", "163.example.net", "qq.example.com"]
    )
    return f"{user}@{host}"


def ipv4() -> str:
    return R.choice(
        [
            f"10.{R.randint(0, 255)}.{R.randint(0, 255)}.{R.randint(1, 254)}",
            f"192.168.{R.randint(0, 255)}.{R.randint(1, 254)}",
            f"172.{R.randint(16, 31)}.{R.randint(0, 255)}.{R.randint(1, 254)}",
            f"{R.randint(1, 223)}.{R.randint(0, 255)}.{R.randint(0, 255)}.{R.randint(1, 254)}",
        ]
    )


def ipv6() -> str:
    if R.random() < 0.3:  # the full form, eight groups
        return "2408:8207:" + ":".join(f"{R.randint(0, 65535):x}" for _ in range(6))
    return R.choice(["2001:db8::", "fe80::", "240e:3a1::"]) + ":".join(
        f"{R.randint(0, 65535):x}" for _ in range(R.randint(1, 3))
    )


def token(alphabet: str, n: int) -> str:
    return "".join(R.choice(alphabet) for _ in range(n))


AN = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def api_key() -> tuple[str, str]:
    kind = R.randrange(7)
    if kind == 0:
        v = "sk-" + token(AN, 40)
        return f"OPENAI_API_KEY={v}", v
    if kind == 1:
        v = "ghp_" + token(AN, 36)
        return f"用这个 token 推送：{v}", v
    if kind == 2:
        v = "AKIA" + token("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", 16)
        return f"aws access key {v} leaked in the repo", v
    if kind == 3:
        v = "LTAI" + token(AN, 20)
        return f"阿里云 AccessKey ID：{v}", v
    if kind == 4:
        v = "eyJ" + token(AN, 20) + "." + token(AN, 30) + "." + token(AN, 25)
        return f"Authorization: Bearer {v}", v
    if kind == 5:
        v = token(AN + "#!", 12)
        return f"数据库密码：{v}", v
    v = "sk-ant-" + token(AN, 32)
    return f'{{"api_key": "{v}"}}', v


def positives() -> list[dict[str, object]]:
    out: list[dict[str, object]] = []

    def add(text: str, lang: str, *ents: tuple[str, str]) -> None:
        out.append(
            {"text": text, "lang": lang, "entities": [{"kind": k, "value": v} for k, v in ents]}
        )

    for i in range(60):
        v = cn_id()
        t = [
            f"我的身份证号是{v}，请帮我核对一下。",
            f"Passenger {R.choice(NAMES_EN)}, resident ID {v}, seat 12A.",
            f"{R.choice(NAMES_ZH)}（身份证：{v}）已完成实名认证",
            f"ID:{v}",
            f"请将{v}登记到客户档案里",
        ][i % 5]
        add(t, "en" if i % 5 == 1 or i % 5 == 3 else "zh", ("cn_id", v))
    for i in range(50):
        v = card(length=R.choice([16, 16, 19]))
        shown = [v, grouped(v), grouped(v, "-")][i % 3]
        t = [
            f"请把工资打到卡号 {shown}，谢谢",
            f"Card number: {shown} exp 09/28",
            f"退款账户{shown}（建设银行）",
            f"charge it to {shown} please",
        ][i % 4]
        add(t, "en" if i % 4 in (1, 3) else "zh", ("bank_card", shown))
    for i in range(40):
        v = mobile()
        shown = [v, f"+86 {v}", f"{v[:3]}-{v[3:7]}-{v[7:]}", f"{v[:3]} {v[3:7]} {v[7:]}"][i % 4]
        t = [
            f"有问题打我手机{shown}",
            f"Call me on {shown} after 6pm.",
            f"联系人：{R.choice(NAMES_ZH)}，电话 {shown}",
            f"mobile {shown}",
        ][i % 4]
        add(t, "en" if i % 4 in (1, 3) else "zh", ("cn_mobile", shown))
    for i in range(30):
        v = email()
        t = [f"请发邮件到{v}", f"Reach me at {v}.", f"抄送 {v} 和财务", f"<{v}>"][i % 4]
        add(t, "en" if i % 4 in (1, 3) else "zh", ("email", v))
    for i in range(30):
        v = ipv4() if i % 3 else ipv6()
        t = [f"服务器 {v} 的磁盘满了", f"ssh into {v} and restart nginx", f"来源地址：{v}"][i % 3]
        add(t, "zh" if i % 3 != 1 else "en", ("ip", v))
    for _ in range(30):
        t, v = api_key()
        add(t, "zh" if any("\u4e00" <= ch <= "\u9fff" for ch in t) else "en", ("api_key", v))
    for _ in range(10):  # several kinds in one text
        a, b, c = cn_id(), mobile(), email()
        add(
            f"客户{R.choice(NAMES_ZH)}，身份证{a}，手机{b}，邮箱{c}。",
            "zh",
            ("cn_id", a),
            ("cn_mobile", b),
            ("email", c),
        )
    return out


def negatives() -> list[dict[str, object]]:
    out: list[dict[str, object]] = []

    def add(text: str, lang: str) -> None:
        out.append({"text": text, "lang": lang, "entities": []})

    for i in range(30):
        v = cn_id(valid=False)
        add(
            [f"身份证号{v}校验失败，请重新输入", f"invalid ID {v} rejected"][i % 2],
            ["zh", "en"][i % 2],
        )
    for i in range(30):
        v = card(valid=False, length=16)
        add(
            [f"卡号 {grouped(v)} 校验位错误", f"test card {v} (fails Luhn)"][i % 2],
            ["zh", "en"][i % 2],
        )
    for i in range(25):
        n = f"{R.randint(2020, 2026)}{R.randint(1, 12):02d}{R.randint(1, 28):02d}{R.randint(0, 10**9):09d}"
        add([f"订单号 {n} 已发货", f"order #{n} shipped"][i % 2], ["zh", "en"][i % 2])
    for i in range(20):
        add(
            [
                f"{R.randint(2020, 2026)}-{R.randint(1, 12):02d}-{R.randint(1, 28):02d} {R.randint(0, 23):02d}:{R.randint(0, 59):02d}:{R.randint(0, 59):02d} 任务完成",
                f"released v{R.randint(0, 9)}.{R.randint(0, 30)}.{R.randint(0, 99)} on {R.randint(1, 28)} May",
            ][i % 2],
            ["zh", "en"][i % 2],
        )
    for i in range(20):
        n = f"{R.choice(['010', '021', '0755'])}-{R.randint(10000000, 99999999)}"
        add([f"座机 {n} 转 {R.randint(100, 999)}", f"office line {n}"][i % 2], ["zh", "en"][i % 2])
    for i in range(20):
        n = "12" + f"{R.randint(0, 999999999):09d}"
        add([f"工号 {n}", f"employee no. {n}"][i % 2], ["zh", "en"][i % 2])
    for i in range(20):
        add(
            [
                f"本月营收 ¥{R.randint(1, 999)},{R.randint(100, 999)},{R.randint(100, 999)}.00，同比增长{R.randint(1, 40)}%",
                f"Revenue was ${R.randint(1, 999)},{R.randint(100, 999)} in Q{R.randint(1, 4)}, up {R.randint(1, 40)}.{R.randint(0, 9)}%",
            ][i % 2],
            ["zh", "en"][i % 2],
        )
    fixed_zh = [
        "请帮我写一封请假邮件，理由是家里有事。",
        "明天上午十点在三号会议室开会。",
        "这个接口的超时时间设为 30 秒。",
        "把邮编 100080 填到地址栏里。",
        "ISBN 978-7-111-54742-6 这本书不错",
        "房间号 1301，楼层 13",
        "快递单号 SF1234567890 明天到",
        "请把 key 和 value 对齐",
        "密码强度要求：至少 8 位",
        "口令模式已关闭",
        "git commit 3f2a9c1 修复了登录问题",
        "使用 @张三 提醒他",
        "版本 2.4.1 已上线",
        "温度 36.5 度",
        "比分 3:2",
        "第 1 至 12 章",
        "排队号 A023",
        "token 数量超过限制",
        "分辨率 1920x1080",
        "API 文档在内网 wiki 上",
    ]
    fixed_en = [
        "Please summarise the attached report in three bullet points.",
        "The meeting is at 10:30 in room 4.",
        "Use scikit-learn for the baseline.",
        "Set the key: value pairs in the config.",
        "Email the team tomorrow.",
        "The password policy needs 12 characters.",
        "Version 1.2.3 fixed the bug.",
        "Our API key rotation runs monthly.",
        "Token usage was 12,345 yesterday.",
        "user at example dot com",
        "Call the support line for help.",
        "The build number is 4512.",
        "Score: 98.5 out of 100",
        "Ticket JIRA-12345 is blocked.",
        "The SHA is 9fceb02d0ae598e95dc970b74767f19372d61af8.",
        "ratio 16:9 screens",
        "12:30:45 UTC is the cut-off",
        "a task-based approach",
        "ask-me-anything session",
        "the secret sauce is patience",
    ]
    for t in fixed_zh:
        add(t, "zh")
    for t in fixed_en:
        add(t, "en")
    return out


def main() -> None:
    rows = positives() + negatives()
    path = Path(__file__).with_name("labelled.jsonl")
    path.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
    )
    pos = sum(1 for r in rows if r["entities"])
    print(f"{len(rows)} samples: {pos} positive, {len(rows) - pos} negative -> {path}")


if __name__ == "__main__":
    main()
