"""`make demo`: a realistic agency in the embedded database, and a guided tour.

Everything is created through the real commands, as the employee whose job it
is (sales create their clients, management drafts contracts, sales sign them,
management staffs events), so every rule of the database applies. Idempotent:
when the demo manager already exists, nothing is loaded again and only the
tour runs. Never prompts: passwords go through --password-stdin. Its logins
and logouts go to a token store of its own: whoever the user is logged in as
before `make demo`, they still are after it.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import subprocess
import sys
from datetime import datetime, timedelta

PASSWORD = "epic-demo-2026"
MANAGER = ("Mona Martin", "mona@epic-events.demo")
STAFF = [
    ("Max Moreau", "max@epic-events.demo", "management", "06 11 22 33 44"),
    ("Sam Sorel", "sam@epic-events.demo", "sales", "06 12 34 56 78"),
    ("Sara Simon", "sara@epic-events.demo", "sales", "06 23 45 67 89"),
    ("Selim Saidi", "selim@epic-events.demo", "sales", "07 34 56 78 90"),
    ("Suzy Sauvage", "suzy@epic-events.demo", "support", "06 45 67 89 01"),
    ("Stan Stevens", "stan@epic-events.demo", "support", "06 56 78 90 12"),
    ("Sofia Silva", "sofia@epic-events.demo", "support", "07 67 89 01 23"),
]
COMPANIES = [
    "Cool Startup LLC",
    "Maison Durand",
    "Boulangerie Petit",
    "Atelier Lumière",
    "Nova Biotech",
    "Les Jardins de Lyon",
    "Quai 54",
    "Orange Bleue SARL",
    "Studio Mistral",
    "Helios Énergie",
    "Vignobles Caron",
    "Café des Arts",
    "Alpine Tech",
    "Rivage Immobilier",
    "Octave Musique",
    "Bistrot Lefèvre",
    "Pixel & Co",
    "Galerie Nadar",
    "Transports Roux",
    "Clinique Pasteur",
    "Éditions Lune",
    "Cabinet Moreau",
    "Ferme Bonnet",
    "Horizon Voyages",
]
FIRST = [
    "Kevin",
    "Claire",
    "Hugo",
    "Léa",
    "Louis",
    "Chloé",
    "Jules",
    "Manon",
    "Arthur",
    "Inès",
    "Nathan",
    "Camille",
    "Paul",
    "Zoé",
    "Victor",
    "Alice",
    "Tom",
    "Lina",
]
LAST = [
    "Casey",
    "Dubois",
    "Lambert",
    "Fontaine",
    "Girard",
    "Mercier",
    "Blanc",
    "Garnier",
    "Faure",
    "André",
    "Rousseau",
    "Vincent",
    "Muller",
    "Lefebvre",
    "Bertrand",
    "Morel",
]
EVENTS = [
    "Gala annuel",
    "Lancement produit",
    "Séminaire d'équipe",
    "Salon B2B",
    "Soirée clients",
    "Mariage",
    "Conférence",
    "Team building",
    "Anniversaire 10 ans",
    "Afterwork",
]
NOTES = [
    [
        ("call", "Premier appel : cherche un lieu pour 150 personnes en juin.", 21),
        ("email", "Devis envoyé.", 12),
    ],
    [("meeting", "Visite du Palais des Congrès avec le client.", 9)],
    [
        ("call", "Relance sur le devis : en attente du budget.", 4),
        ("email", "Budget validé, contrat à préparer.", 2),
    ],
    [("call", "Dernier échange avant l'été ; à rappeler.", 120)],
]
PLACES = [
    "42 Rue de Paris, 75000 Paris",
    "Quai Saint-Antoine, Lyon",
    "Palais des Congrès, Nice",
    "Château de Versailles",
    "Halle Tony Garnier, Lyon",
    "Les Docks, Marseille",
    "Cité des Sciences, Paris",
    "Domaine du Lac, Annecy",
]


@contextlib.contextmanager
def own_token_store():
    """Log the demo's people in and out in a token store of the demo's own.

    A state directory of its own (the demo subfolder of the user's), and the
    0600 file there rather than the OS keyring, whose entries are per database
    whatever the state directory. For this process and the commands it starts;
    the environment is put back on the way out.
    """
    from epic_events import config

    saved = {var: os.environ.get(var) for var in ("XDG_STATE_HOME", "PYTHON_KEYRING_BACKEND")}
    os.environ["XDG_STATE_HOME"] = str(config.state_dir() / "demo")
    os.environ["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"
    try:
        yield
    finally:
        for var, value in saved.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value


def cli(*args: str, password: bool = False) -> tuple[int, str, str]:
    """Run one epic-events command in this process; returns (exit code, stdout, stderr)."""
    from epic_events.cli.main import cli as root

    out, err = io.StringIO(), io.StringIO()
    stdin = io.StringIO(PASSWORD + "\n" if password else "")
    old_stdin = sys.stdin
    sys.stdin = stdin
    code = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                root.main([str(a) for a in args])
            except SystemExit as exc:
                code = exc.code or 0
    finally:
        sys.stdin = old_stdin
    return code, out.getvalue(), err.getvalue()


def must(*args: str, password: bool = False):
    code, out, err = cli(*args, password=password)
    if code != 0:
        raise SystemExit(f"demo: `epic-events {' '.join(args)}` failed ({code}): {err.strip()}")
    return json.loads(out) if "--format" in args and out.strip() else out


def login(email: str) -> None:
    must("login", "--email", email, "--password-stdin", password=True)


def _loading_marker():
    from epic_events import embedded

    return embedded.home() / "demo-loading"


def reset_interrupted_load() -> None:
    """A load that died half way leaves a database only the demo wrote: start it afresh."""
    marker = _loading_marker()
    if not marker.exists():
        return
    import psycopg
    from psycopg import sql

    from epic_events import embedded

    print("demo: the previous demo load was interrupted; starting it afresh", file=sys.stderr)
    info = embedded.start()
    with psycopg.connect(embedded._dsn("postgres", info, "postgres"), autocommit=True) as conn:
        conn.execute(
            sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(embedded.DBNAME))
        )
    embedded._schema_stamp().unlink(missing_ok=True)
    embedded.start()
    marker.unlink()


def load() -> bool:
    """Create the demo agency; False if the database already has its first manager."""
    with own_token_store():
        return _load()


def _load() -> bool:
    code, _, err = cli(
        "db", "bootstrap", "--email", MANAGER[1], "--name", MANAGER[0], "--password-stdin", password=True
    )
    if code == 5:
        return False  # already bootstrapped: the dataset (or someone's own data) is there
    if code != 0:
        raise SystemExit(f"demo: bootstrap failed: {err.strip()}")
    _loading_marker().write_text("the demo load started and has not finished\n")
    rnd = random.Random(2026)
    login(MANAGER[1])
    ids: dict[str, list[int]] = {"sales": [], "support": [], "management": []}
    for name, email, dept, phone in STAFF:
        emp = must(
            "employee",
            "create",
            "--name",
            name,
            "--email",
            email,
            "--department",
            dept,
            "--phone",
            phone,
            "--password-stdin",
            "--format",
            "json",
            password=True,
        )
        ids[dept].append(emp["id"])

    # Sales create their own clients (they become the sales contact).
    sales_emails = [e for _, e, d, _ in STAFF if d == "sales"]
    clients: list[tuple[int, int]] = []  # (client id, sales id)
    companies = COMPANIES[:]
    for s_index, email in enumerate(sales_emails):
        login(email)
        for i in range(12):
            n = s_index * 12 + i
            first, last = FIRST[n % len(FIRST)], LAST[(n * 7) % len(LAST)]
            args = [
                "client",
                "create",
                "--name",
                f"{first} {last}",
                "--email",
                f"{first.lower()}.{last.lower()}{n}@example.fr".replace("é", "e")
                .replace("è", "e")
                .replace("ï", "i"),
                "--phone",
                f"06 {rnd.randint(12, 38)} {rnd.randint(10, 99)} {rnd.randint(10, 99)} {rnd.randint(10, 99)}",
                "--format",
                "json",
            ]
            if n % 3 != 2:
                args[-2:-2] = ["--company", companies[n % len(companies)]]
            created = must(*args)
            clients.append((created["id"], ids["sales"][s_index]))
            # Contact history: most clients were called or met lately; every
            # fourth not for months (`client list --mine --stale 30`).
            for kind, text, days in NOTES[n % len(NOTES)]:
                must(
                    "client",
                    "note",
                    created["id"],
                    "--kind",
                    kind,
                    "--text",
                    text,
                    "--at",
                    (datetime.now() - timedelta(days=days, hours=rnd.randint(1, 8))).strftime(
                        "%d/%m/%Y %H:%M"
                    ),
                    "--format",
                    "json",
                )

    # Management drafts the contracts.
    login(MANAGER[1])
    contracts: list[tuple[int, int, str]] = []  # (contract id, sales id, state)
    states = ["unsigned", "signed_paid", "signed_partial", "signed_unpaid"]
    for i, (client_id, sales_id) in enumerate(clients):
        for j in range(1 + (i % 2)):
            total = rnd.choice([1500, 2800, 4200, 7500, 12000, 18500, 26000])
            state = states[(i + j) % len(states)]
            k = must("contract", "create", "--client", client_id, "--total", total, "--format", "json")
            contracts.append((k["id"], sales_id, state))

    # Sales sign their contracts and record payments.
    by_sales = {sid: [c for c in contracts if c[1] == sid] for sid in ids["sales"]}
    signed: list[tuple[int, int]] = []
    for s_index, email in enumerate(sales_emails):
        login(email)
        for contract_id, _, state in by_sales[ids["sales"][s_index]]:
            if state == "unsigned":
                continue
            must("contract", "sign", contract_id, "--yes", "--format", "json")
            k = must("contract", "view", contract_id, "--format", "json")
            due = float(k["amount_due"])
            deposit = round(due * 0.3, 2)
            if state in ("signed_paid", "signed_partial"):
                # A deposit by transfer some weeks ago ...
                must(
                    "contract",
                    "pay",
                    contract_id,
                    "--amount",
                    f"{deposit:.2f}",
                    "--method",
                    "transfer",
                    "--on",
                    _days_ago(rnd.randint(20, 40)),
                    "--reference",
                    f"VIR-{contract_id:05d}",
                    "--format",
                    "json",
                )
            if state == "signed_paid":
                # ... and the balance, by cheque or card.
                must(
                    "contract",
                    "pay",
                    contract_id,
                    "--amount",
                    f"{due - deposit:.2f}",
                    "--method",
                    rnd.choice(["cheque", "card"]),
                    "--on",
                    _days_ago(rnd.randint(1, 15)),
                    "--format",
                    "json",
                )
            signed.append((contract_id, ids["sales"][s_index]))
        # ... and create events for their signed contracts: some past, most upcoming.
    events: list[int] = []
    today = datetime.now().replace(minute=0, second=0, microsecond=0)
    for s_index, email in enumerate(sales_emails):
        login(email)
        mine = [c for c, sid in signed if sid == ids["sales"][s_index]]
        for n, contract_id in enumerate(mine):
            start = today + timedelta(days=rnd.randint(-60, 75), hours=rnd.choice([9, 14, 18]) - today.hour)
            end = start + timedelta(hours=rnd.choice([3, 5, 8, 26]))
            ev = must(
                "event",
                "create",
                "--contract",
                contract_id,
                "--name",
                f"{EVENTS[(n + s_index) % len(EVENTS)]}",
                "--start",
                start.strftime("%d/%m/%Y %H:%M"),
                "--end",
                end.strftime("%d/%m/%Y %H:%M"),
                "--location",
                PLACES[(n * 3 + s_index) % len(PLACES)],
                "--attendees",
                str(rnd.choice([20, 45, 80, 150, 300])),
                "--notes",
                "Accueil café, vestiaire, parking réservé." if n % 2 else "",
                "--format",
                "json",
            )
            events.append(ev["id"])

    # Management staffs most events; a few stay without support on purpose.
    login(MANAGER[1])
    # A deposit cheque that bounced: corrected by a negative payment (never an edit).
    partial = next(c for c, _, state in contracts if state == "signed_partial")
    bounced = must("contract", "payments", partial, "--format", "json")[-1]
    must(
        "contract",
        "pay",
        partial,
        "--amount",
        f"-{bounced['amount']:.2f}",
        "--method",
        "other",
        "--reference",
        f"{bounced['reference']} rejected by the bank",
        "--format",
        "json",
    )
    must(
        "contract",
        "pay",
        partial,
        "--amount",
        f"{bounced['amount']:.2f}",
        "--method",
        "card",
        "--reference",
        "paid again by card",
        "--format",
        "json",
    )
    for n, event_id in enumerate(events):
        if n % 4 != 3:
            must(
                "event",
                "assign-support",
                event_id,
                ids["support"][n % len(ids["support"])],
                "--format",
                "json",
            )
    # Selim leaves: his clients and contracts go to Sara in one command. Sofia
    # leaves too, before anyone took over her events: they show up in
    # `event list --no-support` and on the dashboard.
    must("employee", "deactivate", ids["sales"][2], "--reassign-to", ids["sales"][1], "--format", "json")
    must("employee", "deactivate", ids["support"][2], "--yes", "--format", "json")
    cli("logout")
    _loading_marker().unlink()
    return True


def _days_ago(days: int) -> str:
    return (datetime.now() - timedelta(days=days)).strftime("%d/%m/%Y")


def tour() -> None:
    """Show what each department sees, as the real commands and their real output."""
    with own_token_store():
        _tour()


def _tour() -> None:
    env = {**os.environ, "COLUMNS": os.environ.get("COLUMNS", "110")}
    exe = os.path.join(os.path.dirname(sys.executable), "epic-events")

    def show(*args: str, password: bool = False):
        print(f"\n$ epic-events {' '.join(args)}", flush=True)
        subprocess.run(
            [exe, *args], input=PASSWORD + "\n" if password else None, text=True, env=env, check=False
        )

    for who, email, commands in (
        (
            "management",
            MANAGER[1],
            [
                ("contract", "list", "--unsigned", "--limit", "5"),
                ("event", "list", "--no-support", "--limit", "5"),
                ("employee", "list", "--inactive"),
                ("report", "sales"),
                ("report", "events"),
            ],
        ),
        (
            "sales",
            "sam@epic-events.demo",
            [
                ("client", "list", "--mine", "--limit", "5"),
                ("contract", "list", "--mine", "--unpaid", "--limit", "5"),
                ("contract", "payments", "3"),
                ("client", "list", "--mine", "--stale", "30", "--limit", "5"),
                ("client", "view", "3"),
            ],
        ),
        (
            "support",
            "suzy@epic-events.demo",
            [("event", "list", "--mine", "--limit", "5"), ("event", "agenda")],
        ),
    ):
        print(f"\n\033[1m── As {who} ({email}) ──\033[0m", flush=True)
        show("login", "--email", email, "--password-stdin", password=True)
        show("--format", "table")  # the dashboard
        for args in commands:
            show(*args, "--format", "table")
        show("logout")


def main() -> None:
    for var in ("DATABASE_URL", "EPIC_EVENTS_ADMIN_DSN"):
        if os.environ.pop(var, None):
            print(f"demo: ignoring {var}: the demo runs on the embedded local server", file=sys.stderr)
    from epic_events import embedded

    embedded.start()
    reset_interrupted_load()
    print(f"Embedded PostgreSQL {embedded.server_version()} at {embedded.pgdata()}")
    loaded = load()
    print(
        "Demo data loaded."
        if loaded
        else "Demo data already present (re-running is safe: nothing was changed)."
    )
    tour()
    print(f"""
The demo logged its people in and out in a token store of its own: your own login is as it was.

Demo accounts (password for all: {PASSWORD}):
  management  {MANAGER[1]}, max@epic-events.demo
  sales       sam@epic-events.demo, sara@epic-events.demo (selim@ has left)
  support     suzy@epic-events.demo, stan@epic-events.demo (sofia@ has left)

Try it yourself:
  source .venv/bin/activate
  epic-events login --email sam@epic-events.demo      # password: {PASSWORD}
  epic-events client list
""")


if __name__ == "__main__":
    main()
