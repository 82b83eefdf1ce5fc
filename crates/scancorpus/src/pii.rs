//! Files of personal data in realistic shapes: customer CSV exports, web server access logs,
//! JSON user records and log lines, SQL seed data, support tickets, test fixtures.

use std::collections::BTreeMap;

use crate::layout::{Doc, Kind};
use crate::prng::Rng;
use crate::values::{self, Value};

/// Values waiting to be written, per family.
#[derive(Debug)]
pub struct Queues(BTreeMap<&'static str, Vec<Value>>);

impl Queues {
    pub fn new(rng: &mut Rng, per_family: usize) -> Queues {
        let mut q = BTreeMap::new();
        for &family in values::PII_FAMILIES {
            let mut r = rng.fork(family);
            let items = (0..per_family)
                .map(|_| match family {
                    "email" => values::email(&mut r),
                    "phone-number" => values::phone(&mut r),
                    "credit-card" => values::card(&mut r),
                    "us-ssn" => values::ssn(&mut r),
                    "iban" => values::iban(&mut r),
                    _ => values::public_ipv4(&mut r),
                })
                .collect();
            q.insert(family, items);
        }
        Queues(q)
    }

    fn take(&mut self, family: &str) -> Option<Value> {
        self.0.get_mut(family).and_then(Vec::pop)
    }

    fn pending(&self, family: &str) -> bool {
        self.0.get(family).is_some_and(|v| !v.is_empty())
    }

    pub fn is_empty(&self) -> bool {
        self.0.values().all(Vec::is_empty)
    }
}

/// Writes `v` marked, or nothing.
fn cell(doc: &mut Doc, v: &Option<Value>, family: &'static str, context: &str) {
    if let Some(v) = v {
        doc.mark(&v.text, family, Kind::Pii, v.variant, context);
    }
}

fn date(rng: &mut Rng) -> String {
    format!("2023-{:02}-{:02}", rng.range(1, 12), rng.range(1, 28))
}

const COUNTRIES: &[&str] = &[
    "DE", "GB", "FR", "US", "NL", "ES", "IT", "SE", "PL", "IN", "AU",
];
const UAS: &[&str] = &[
    "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Safari/605.1.15",
    "curl/8.5.0",
    "python-requests/2.31.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
];

/// One file of personal data: its relative name and content. Returns `None` when every queue
/// the chosen shape uses is empty (the caller tries another).
pub fn next_file(rng: &mut Rng, q: &mut Queues) -> Option<(String, Doc)> {
    type Shape = (&'static str, &'static [&'static str]);
    const SHAPES: &[(u32, Shape)] = &[
        (20, ("crm-csv", &["email", "phone-number"])),
        (10, ("billing-csv", &["email", "credit-card", "iban"])),
        (8, ("hr-csv", &["email", "phone-number", "us-ssn"])),
        (15, ("access-log", &["ip-address"])),
        (10, ("json-log", &["email", "ip-address"])),
        (10, ("users-json", &["email", "phone-number", "ip-address"])),
        (
            10,
            (
                "seed-sql",
                &["email", "phone-number", "iban", "credit-card"],
            ),
        ),
        (8, ("tickets", &["email", "phone-number", "credit-card"])),
        (
            9,
            ("fixtures-py", &["email", "us-ssn", "iban", "credit-card"]),
        ),
    ];
    let (shape, families) = rng.weighted(SHAPES);
    if !families.iter().any(|f| q.pending(f)) {
        return None;
    }
    let rows = rng.range(8, 40);
    let mut doc = Doc::new();
    let w = values::word(rng);
    let name = match shape {
        "crm-csv" => {
            doc.line("id,first_name,last_name,email,phone,country,created_at");
            for i in 0..rows {
                let (e, p) = (q.take("email"), q.take("phone-number"));
                if e.is_none() && p.is_none() {
                    break;
                }
                let (f, l) = (values::first_name(rng), values::last_name(rng));
                doc.put(&format!(
                    "{},{},{},",
                    1000 + i,
                    values::capitalized(f),
                    values::capitalized(l)
                ));
                cell(&mut doc, &e, "email", "csv");
                doc.put(",");
                cell(&mut doc, &p, "phone-number", "csv");
                doc.line(&format!(",{},{}", rng.pick(COUNTRIES), date(rng)));
            }
            format!("exports/customers-{w}.csv")
        }
        "billing-csv" => {
            doc.line("customer_id,email,card_number,iban,plan,amount_eur");
            for i in 0..rows {
                let (e, c, b) = (q.take("email"), q.take("credit-card"), q.take("iban"));
                if e.is_none() && c.is_none() && b.is_none() {
                    break;
                }
                doc.put(&format!("C{:06},", rng.range(1, 999_999) + i));
                cell(&mut doc, &e, "email", "csv");
                doc.put(",");
                cell(&mut doc, &c, "credit-card", "csv");
                doc.put(",");
                cell(&mut doc, &b, "iban", "csv");
                doc.line(&format!(
                    ",{},{}.{:02}",
                    rng.pick(&["basic", "pro", "team"]),
                    rng.range(5, 499),
                    rng.range(0, 99)
                ));
            }
            format!("exports/billing-{w}.csv")
        }
        "hr-csv" => {
            doc.line("employee_id,name,email,phone,ssn,start_date,department");
            for i in 0..rows {
                let (e, p, s) = (q.take("email"), q.take("phone-number"), q.take("us-ssn"));
                if e.is_none() && p.is_none() && s.is_none() {
                    break;
                }
                let (f, l) = (values::first_name(rng), values::last_name(rng));
                doc.put(&format!(
                    "E{:05},{} {},",
                    100 + i,
                    values::capitalized(f),
                    values::capitalized(l)
                ));
                cell(&mut doc, &e, "email", "csv");
                doc.put(",");
                cell(&mut doc, &p, "phone-number", "csv");
                doc.put(",");
                cell(&mut doc, &s, "us-ssn", "csv");
                doc.line(&format!(",{},{}", date(rng), values::word(rng)));
            }
            format!("hr/employees-{w}.csv")
        }
        "access-log" => {
            for _ in 0..rows * 2 {
                let Some(ip) = q.take("ip-address") else {
                    break;
                };
                doc.mark(&ip.text, "ip-address", Kind::Pii, ip.variant, "access-log");
                doc.line(&format!(
                    " - - [{:02}/Mar/2024:{:02}:{:02}:{:02} +0000] \"GET /api/v1/{}?page={} HTTP/1.1\" {} {} \"-\" \"{}\"",
                    rng.range(1, 28),
                    rng.range(0, 23),
                    rng.range(0, 59),
                    rng.range(0, 59),
                    values::word(rng),
                    rng.range(1, 40),
                    rng.pick(&[200, 200, 200, 304, 404, 500]),
                    rng.range(120, 90_000),
                    rng.pick(UAS)
                ));
            }
            format!("logs/nginx/access-{w}.log")
        }
        "json-log" => {
            for _ in 0..rows {
                let (e, ip) = (q.take("email"), q.take("ip-address"));
                if e.is_none() && ip.is_none() {
                    break;
                }
                doc.put(&format!(
                    "{{\"ts\":\"{}\",\"level\":\"info\",\"event\":\"{}\"",
                    crate::contexts::timestamp(rng),
                    rng.pick(&[
                        "login_succeeded",
                        "password_changed",
                        "order_placed",
                        "login_failed"
                    ])
                ));
                if e.is_some() {
                    doc.put(",\"user\":\"");
                    cell(&mut doc, &e, "email", "json-log");
                    doc.put("\"");
                }
                if ip.is_some() {
                    doc.put(",\"client_ip\":\"");
                    cell(&mut doc, &ip, "ip-address", "json-log");
                    doc.put("\"");
                }
                doc.line("}");
            }
            format!("logs/{w}-events.jsonl")
        }
        "users-json" => {
            doc.line("[");
            let mut first = true;
            for i in 0..rows {
                let (e, p, ip) = (
                    q.take("email"),
                    q.take("phone-number"),
                    q.take("ip-address"),
                );
                if e.is_none() && p.is_none() && ip.is_none() {
                    break;
                }
                if !first {
                    doc.line(",");
                }
                first = false;
                let (f, l) = (values::first_name(rng), values::last_name(rng));
                doc.line("  {");
                doc.put(&format!(
                    "    \"id\": {},\n    \"name\": \"{} {}\"",
                    5000 + i,
                    values::capitalized(f),
                    values::capitalized(l)
                ));
                for (v, fam, key) in [
                    (&e, "email", "email"),
                    (&p, "phone-number", "phone"),
                    (&ip, "ip-address", "last_login_ip"),
                ] {
                    if v.is_some() {
                        doc.put(&format!(",\n    \"{key}\": \""));
                        cell(&mut doc, v, fam, "json");
                        doc.put("\"");
                    }
                }
                doc.put("\n  }");
            }
            doc.line("\n]");
            format!("data/users-{w}.json")
        }
        "seed-sql" => {
            doc.line("-- seed data for the staging database");
            for _ in 0..rows {
                let (e, p, b, c) = (
                    q.take("email"),
                    q.take("phone-number"),
                    q.take("iban"),
                    q.take("credit-card"),
                );
                if e.is_none() && p.is_none() && b.is_none() && c.is_none() {
                    break;
                }
                let (f, l) = (values::first_name(rng), values::last_name(rng));
                doc.put(&format!(
                    "INSERT INTO customers (name, email, phone, iban, card) VALUES ('{} {}', '",
                    values::capitalized(f),
                    values::capitalized(l)
                ));
                cell(&mut doc, &e, "email", "sql");
                doc.put("', '");
                cell(&mut doc, &p, "phone-number", "sql");
                doc.put("', '");
                cell(&mut doc, &b, "iban", "sql");
                doc.put("', '");
                cell(&mut doc, &c, "credit-card", "sql");
                doc.line("');");
            }
            format!("db/seeds/{w}.sql")
        }
        "tickets" => {
            doc.line(&format!("# Support tickets: {w}"));
            doc.line("");
            for _ in 0..rows / 2 + 1 {
                let (e, p, c) = (
                    q.take("email"),
                    q.take("phone-number"),
                    q.take("credit-card"),
                );
                if e.is_none() && p.is_none() && c.is_none() {
                    break;
                }
                let (f, l) = (values::first_name(rng), values::last_name(rng));
                doc.line(&format!("## Ticket #{}", rng.range(10_000, 99_999)));
                doc.put(&format!(
                    "{} {} wrote in about a failed payment.",
                    values::capitalized(f),
                    values::capitalized(l)
                ));
                if e.is_some() {
                    doc.put(" Reply to ");
                    cell(&mut doc, &e, "email", "prose");
                    doc.put(".");
                }
                if p.is_some() {
                    doc.put(" Call back on ");
                    cell(&mut doc, &p, "phone-number", "prose");
                    doc.put(" after 3pm.");
                }
                if c.is_some() {
                    doc.put(" The card on file is ");
                    cell(&mut doc, &c, "credit-card", "prose");
                    doc.put(", expiry 09/27.");
                }
                doc.line("");
                doc.line("");
            }
            format!("support/tickets-{w}.md")
        }
        _ => {
            doc.line("\"\"\"Fixtures copied from a production export (to be anonymised).\"\"\"");
            doc.line("");
            doc.line("CUSTOMERS = [");
            for _ in 0..rows / 2 + 1 {
                let (e, s, b, c) = (
                    q.take("email"),
                    q.take("us-ssn"),
                    q.take("iban"),
                    q.take("credit-card"),
                );
                if e.is_none() && s.is_none() && b.is_none() && c.is_none() {
                    break;
                }
                doc.line("    {");
                for (v, fam, key) in [
                    (&e, "email", "email"),
                    (&s, "us-ssn", "ssn"),
                    (&b, "iban", "iban"),
                    (&c, "credit-card", "card"),
                ] {
                    if v.is_some() {
                        doc.put(&format!("        \"{key}\": \""));
                        cell(&mut doc, v, fam, "py-fixture");
                        doc.line("\",");
                    }
                }
                doc.line("    },");
            }
            doc.line("]");
            format!("tests/fixtures/customers_{w}.py")
        }
    };
    if doc.marks.is_empty() {
        return None;
    }
    Some((name, doc))
}
