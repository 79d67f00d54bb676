"""A development consortium for `creditchain serve --dev` (Yulin) and for each city of
`creditchain network up`: the city's gateway, credit office, departments, a utility, a bank
and an auditor, registered on the chain by the city's registrar, each with an encrypted
keystore (and a development password file) under ``<data_dir>/keys/orgs``.

The result is described in ``<data_dir>/consortium.json`` so the CLI (`creditchain submit --as
tax`) and the tests can act as any of them.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from eth_account.signers.local import LocalAccount

from gateway._keys import GatewaySecrets
from gateway.domain.identifiers import make_uscc
from gateway.domain.records import log_id, org_id_for
from gateway.errors import ConfigurationError
from node import Chain, ContractRevert, Deployment, OrgKind, create_keystore, load_keystore
from node._accounts import private_dir

YULIN = 610800


@dataclass(frozen=True)
class City:
    """A city of the Yellow River network: its GB/T 2260 code and names."""

    slug: str
    code: int
    name_zh: str
    name_en: str


CITIES: dict[str, City] = {
    c.slug: c
    for c in (
        City("yulin", YULIN, "榆林市", "Yulin"),
        City("lanzhou", 620100, "兰州市", "Lanzhou"),
        City("yinchuan", 640100, "银川市", "Yinchuan"),
        City("hohhot", 150100, "呼和浩特市", "Hohhot"),
        City("pingliang", 620800, "平凉市", "Pingliang"),
        City("yanan", 610600, "延安市", "Yan'an"),
    )
}
"""The Yellow River credit alliance (seed plan 专栏4-3): Yulin and its partner cities."""
LOG_NAMES = ("records", "access")
_FUNDING = 10**22


@dataclass(frozen=True)
class DevOrg:
    slug: str
    name_zh: str
    name_en: str
    kind: str
    uscc: str
    org_id: str
    address: str
    keystore: str
    password_file: str
    x25519_public: str

    def account(self) -> LocalAccount:
        return load_keystore(Path(self.keystore), Path(self.password_file).read_text().strip())


# slug, Chinese name, English name, kind, 17-character USCC body (check character appended)
_ORGS = (
    (
        "gateway",
        "榆林市公共信用信息平台",
        "Yulin public credit gateway",
        "gateway",
        "12610800MB0000012",
    ),
    ("credit-office", "榆林市信用办", "Yulin credit office", "credit_office", "11610800MB0000021"),
    ("tax", "国家税务总局榆林市税务局", "Yulin tax bureau", "department", "11610800MB0000030"),
    (
        "market",
        "榆林市市场监督管理局",
        "Yulin market regulation bureau",
        "department",
        "11610800MB0000048",
    ),
    (
        "court",
        "榆林市中级人民法院",
        "Yulin intermediate people's court",
        "department",
        "11610800MB0000056",
    ),
    ("water", "榆林市水务集团有限公司", "Yulin water group", "utility", "91610800MA0000064"),
    (
        "bank",
        "陕西榆林农村商业银行",
        "Yulin rural commercial bank",
        "financial_institution",
        "91610800MA0000072",
    ),
    ("auditor", "榆林市审计局", "Yulin audit bureau", "auditor", "11610800MB0000080"),
)


def city_orgs(city: City) -> tuple[tuple[str, str, str, str, str], ...]:
    """The development consortium of ``city``: (slug, Chinese name, English name, kind,
    17-character USCC body) — Yulin's as ever, the others' named after their city, with
    the city's division code in their USCCs (so no two cities share an org id)."""
    if city.code == YULIN:
        return _ORGS
    zh, en, code = city.name_zh, city.name_en, f"{city.code:06d}"
    names = {
        "gateway": (f"{zh}公共信用信息平台", f"{en} public credit gateway"),
        "credit-office": (f"{zh}信用办", f"{en} credit office"),
        "tax": (f"国家税务总局{zh}税务局", f"{en} tax bureau"),
        "market": (f"{zh}市场监督管理局", f"{en} market regulation bureau"),
        "court": (f"{zh}中级人民法院", f"{en} intermediate people's court"),
        "water": (f"{zh}水务集团有限公司", f"{en} water group"),
        "bank": (f"{zh}农村商业银行", f"{en} rural commercial bank"),
        "auditor": (f"{zh}审计局", f"{en} audit bureau"),
    }
    return tuple(
        (slug, *names[slug], kind, body[:2] + code + body[8:]) for slug, _, _, kind, body in _ORGS
    )


def consortium_path(data_dir: Path) -> Path:
    return data_dir / "consortium.json"


def load_consortium(data_dir: Path) -> dict[str, DevOrg]:
    path = consortium_path(data_dir)
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigurationError(
            f"no development consortium at {path}: start `creditchain serve --dev` once"
        ) from None
    return {o["slug"]: DevOrg(**o) for o in doc["orgs"]}


def _x25519() -> tuple[bytes, bytes]:
    key = X25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return private, public


def _write_private(path: Path, text: str) -> None:
    private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def bootstrap(
    data_dir: Path,
    chain: Chain,
    deployment: Deployment,
    registrar: Callable[[], LocalAccount],
    secrets_: GatewaySecrets,
    city: City = CITIES["yulin"],
    *,
    log_admin: Callable[[], LocalAccount] | None = None,
) -> dict[str, DevOrg]:
    """Register ``city``'s development consortium (default: Yulin) and the gateway's logs.

    Resumable: a crash anywhere leaves key files and on-chain registrations that the next run
    reuses (each key file is written before its registration; each registration is skipped
    when the chain already has it), and ``consortium.json`` is written last, atomically.
    ``registrar`` (a registrar of ``city``) is called only when there is something to
    register; ``log_admin`` (default: the registrar) registers the gateway's two logs.
    """
    path = consortium_path(data_dir)
    if path.exists():
        return load_consortium(data_dir)
    acting = registrar()
    membership = deployment.membership(chain)
    log = deployment.checkpoint_log(chain)
    chain.fund(secrets_.operator.address, _FUNDING)
    chain.fund(secrets_.signer.address, _FUNDING)
    orgs: list[DevOrg] = []
    keys = data_dir / "keys" / "orgs"
    for slug, zh, en, kind, body in city_orgs(city):
        uscc = make_uscc(body)
        org_id = org_id_for(uscc)
        x_file = keys / f"{slug}.x25519"
        if not x_file.exists():
            _write_private(x_file, _x25519()[0].hex() + "\n")
        public = _x25519_public(bytes.fromhex(x_file.read_text().strip()))
        if slug == "gateway":
            account = secrets_.signer
            keystore = data_dir / "keys" / "gateway-signer.json"
            password_file = data_dir / "keys" / "gateway-signer.password"
        else:
            keystore = keys / f"{slug}.json"
            password_file = keys / f"{slug}.password"
            if keystore.exists():
                account = load_keystore(keystore, password_file.read_text().strip())
            else:
                if not password_file.exists():
                    _write_private(password_file, secrets.token_urlsafe(18) + "\n")
                account = create_keystore(
                    keystore, password_file.read_text().strip(), scrypt_n=2**14
                )
            chain.fund(account.address, _FUNDING)
        try:
            membership.org(org_id)
        except ContractRevert as exc:
            if exc.name != "UnknownOrg":
                raise
            membership.register_org(
                acting, org_id, city.code, OrgKind[kind.upper()], account.address, public
            )
        orgs.append(
            DevOrg(
                slug,
                zh,
                en,
                kind,
                uscc,
                "0x" + org_id.hex(),
                account.address,
                str(keystore),
                str(password_file),
                public.hex(),
            )
        )
    gateway_org = bytes.fromhex(orgs[0].org_id[2:])
    logs_by = acting if log_admin is None else log_admin()
    for name in LOG_NAMES:
        try:
            log.contract.functions.logInfo(log_id(gateway_org, name)).call()
        except Exception:  # noqa: BLE001 - UnknownLog (or a transport error: register fails loudly)
            log.register_log(
                logs_by, log_id(gateway_org, name), gateway_org, secrets_.operator.address
            )
    doc: dict[str, Any] = {
        "city": city.code,
        "gateway": orgs[0].org_id,
        "orgs": [asdict(o) for o in orgs],
    }
    tmp = path.with_name(path.name + ".tmp")
    _write_private(tmp, json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    os.replace(tmp, path)
    return {o.slug: o for o in orgs}


def _x25519_public(private: bytes) -> bytes:
    key = X25519PrivateKey.from_private_bytes(private)
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
