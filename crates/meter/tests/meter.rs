//! Data-driven tests of cost math, windows, budget checks and two replicas sharing a store.
//!
//! Each case is a script, one command per line; `check` runs it and compares what it printed:
//!
//! - `budget NAME window=W [per=a,b] [where=dim:v1;v2]… [cost_usd=X] [tokens=N] [requests=N]`
//! - `price MODEL in=USD out=USD [cache_read=USD] [cache_write=USD]` (per million tokens)
//! - `cost MODEL [in=N] [out=N] [cr=N] [cw=N]` — prints the cost in micro-USD
//! - `at 2026-11-23T13:15:10Z` — sets the clock (shared by both replicas)
//! - `on A` / `on B` — the replica (meter) the next commands use; both share one SQLite store
//! - `req DEV [teams=a,b] [tool=T] [model=M] [repo=R] [tags=k=v,…] [est=N] [in=N] [out=N]
//!   [cr=N] [cw=N] [hold=NAME]` — checks; if allowed, reserves and records the usage (or, with
//!   `hold`, keeps the reservation open)
//! - `finish NAME [in=N] [out=N]…` / `drop NAME` / `release NAME` — records / abandons
//!   (its estimate stays counted) / releases (no provider took it on) a held request
//! - `flush` — flushes the current replica

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

use expect_test::{Expect, expect};
use meter::{Dimensions, ManualClock, Meter, Reservation, Usage};
use model::{Budget, Budgets, Filter, Limits, ModelPrice, PriceTable};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

fn args(words: &[&str]) -> HashMap<String, String> {
    words
        .iter()
        .map(|w| {
            let (k, v) = w
                .split_once('=')
                .unwrap_or_else(|| panic!("`{w}`: expected k=v"));
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

fn usd(s: &str) -> u64 {
    (s.parse::<f64>().unwrap() * 1e6).round() as u64
}

fn num(a: &HashMap<String, String>, k: &str) -> u64 {
    a.get(k).map_or(0, |v| v.parse().unwrap())
}

fn parse_budget(name: &str, words: &[&str]) -> Budget {
    let mut b = Budget {
        name: name.to_owned(),
        per: Vec::new(),
        filters: Vec::new(),
        window: model::Window::Day,
        limit: Limits::default(),
    };
    for w in words {
        let (k, v) = w.split_once('=').unwrap();
        match k {
            "window" => b.window = v.parse().unwrap(),
            "per" => b.per = v.split(',').map(|d| d.parse().unwrap()).collect(),
            "where" => {
                let (d, vs) = v.rsplit_once(':').unwrap();
                b.filters.push(Filter {
                    dimension: d.parse().unwrap(),
                    values: vs.split(';').map(str::to_owned).collect(),
                });
            }
            "cost_usd" => b.limit.cost_micro_usd = Some(usd(v)),
            "tokens" => b.limit.tokens = Some(v.parse().unwrap()),
            "requests" => b.limit.requests = Some(v.parse().unwrap()),
            _ => panic!("unknown budget field {k}"),
        }
    }
    b
}

fn usage(a: &HashMap<String, String>) -> Usage {
    Usage {
        input_tokens: num(a, "in"),
        output_tokens: num(a, "out"),
        cache_read_tokens: num(a, "cr"),
        cache_write_tokens: num(a, "cw"),
    }
}

fn time(s: &str) -> OffsetDateTime {
    OffsetDateTime::parse(s, &Rfc3339).unwrap()
}

fn check(script: &str, expect: Expect) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let out = rt.block_on(run(script));
    expect.assert_eq(&out);
}

async fn run(script: &str) -> String {
    let lines: Vec<Vec<&str>> = script
        .lines()
        .map(|l| {
            l.split('#')
                .next()
                .unwrap()
                .split_whitespace()
                .collect::<Vec<_>>()
        })
        .filter(|w| !w.is_empty())
        .collect();
    let mut budgets = Budgets::default();
    let mut prices = PriceTable::default();
    for w in &lines {
        match w[0] {
            "budget" => budgets.budgets.push(parse_budget(w[1], &w[2..])),
            "price" => {
                let a = args(&w[2..]);
                let input = usd(&a["in"]);
                prices.models.insert(
                    w[1].to_owned(),
                    ModelPrice {
                        input,
                        output: usd(&a["out"]),
                        cache_read: a.get("cache_read").map_or(input, |v| usd(v)),
                        cache_write: a.get("cache_write").map_or(input, |v| usd(v)),
                    },
                );
            }
            _ => {}
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let store = store::Store::open(&store::StoreConfig::Sqlite {
        path: dir.path().join("aigov.db"),
    })
    .await
    .unwrap();
    let clock = Arc::new(ManualClock::new(time("2026-11-23T13:15:10Z")));
    let meters = [
        Meter::with_clock(&budgets, clock.clone()),
        Meter::with_clock(&budgets, clock.clone()),
    ];
    let mut current = 0;
    let mut held: HashMap<String, (Reservation, String)> = HashMap::new();
    let mut out = String::new();
    for w in &lines {
        let a = || args(&w[2..]);
        match w[0] {
            "budget" | "price" => {}
            "cost" => {
                let c = meter::cost(&prices, w[1], &usage(&a()));
                writeln!(out, "cost {}: {c} micro-USD", w[1]).unwrap();
            }
            "at" => clock.set(time(w[1])),
            "on" => current = if w[1] == "A" { 0 } else { 1 },
            "flush" => {
                let s = meters[current].flush(&store).await.unwrap();
                writeln!(
                    out,
                    "flush {}: written {}, refreshed {}, evicted {}",
                    ["A", "B"][current],
                    s.written,
                    s.refreshed,
                    s.evicted
                )
                .unwrap();
            }
            "req" => {
                let a = a();
                let teams: Vec<&str> = a
                    .get("teams")
                    .map_or(Vec::new(), |t| t.split(',').collect());
                let tags = a
                    .get("tags")
                    .map_or(Vec::new(), |t| meter::parse_tags(t).unwrap());
                let model = a.get("model").map_or("m", String::as_str);
                let dims = Dimensions {
                    developer: w[1],
                    teams,
                    tool: a.get("tool").map_or("claude-code", String::as_str),
                    model,
                    repo: a.get("repo").map(String::as_str),
                    tags,
                };
                let check =
                    meters[current].check(&dims, meter::estimate(&prices, model, num(&a, "est")));
                let s = &check.state;
                let mut line = format!("{} {}: ", ["A", "B"][current], w[1]);
                if s.exceeded {
                    line.push_str(&format!("DENY {}", s.tightest.as_ref().unwrap().message()));
                } else {
                    line.push_str("allow");
                    match &s.tightest {
                        Some(t) => line.push_str(&format!(
                            ", closest {}[{}] {} of {} ({}%)",
                            t.budget,
                            t.scope,
                            t.metric.format(t.spent),
                            t.metric.format(t.limit),
                            s.used_percent
                        )),
                        None => line.push_str(", no budget applies"),
                    }
                }
                if s.limit_cents > 0 {
                    line.push_str(&format!(" [cents {}/{}]", s.spent_cents, s.limit_cents));
                }
                writeln!(out, "{line}").unwrap();
                if !s.exceeded {
                    let r = meters[current].reserve(&check);
                    match a.get("hold") {
                        Some(name) => {
                            held.insert(name.clone(), (r, model.to_owned()));
                        }
                        None => {
                            let u = usage(&a);
                            r.record(u.total_tokens(), meter::cost(&prices, model, &u));
                        }
                    }
                }
            }
            "finish" => {
                let (r, model) = held.remove(w[1]).unwrap();
                let u = usage(&a());
                r.record(u.total_tokens(), meter::cost(&prices, &model, &u));
            }
            "drop" => drop(held.remove(w[1]).unwrap()),
            "release" => held.remove(w[1]).unwrap().0.release(),
            other => panic!("unknown command {other}"),
        }
    }
    out
}

#[test]
fn cost_math() {
    check(
        "
        price claude-sonnet-4 in=3 out=15 cache_read=0.3 cache_write=3.75
        price gpt-4o in=2.5 out=10          # cache tokens priced as input
        price local-coder in=0 out=0
        cost claude-sonnet-4 in=1000000
        cost claude-sonnet-4 in=1200 out=350 cr=50000 cw=2000
        cost claude-sonnet-4 in=1                # 3 micro-USD
        cost claude-sonnet-4 cr=1                # 0.3 rounds to 0
        cost claude-sonnet-4 cr=2                # 0.6 rounds to 1
        cost gpt-4o in=1000 cr=1000
        cost local-coder in=5000 out=5000
        cost unpriced-model in=5000 out=5000     # no price: free, tokens still count
        ",
        expect![[r#"
            cost claude-sonnet-4: 3000000 micro-USD
            cost claude-sonnet-4: 31350 micro-USD
            cost claude-sonnet-4: 3 micro-USD
            cost claude-sonnet-4: 0 micro-USD
            cost claude-sonnet-4: 1 micro-USD
            cost gpt-4o: 5000 micro-USD
            cost local-coder: 0 micro-USD
            cost unpriced-model: 0 micro-USD
        "#]],
    );
    // Tokens of an unpriced model count against token budgets.
    check(
        "
        budget t window=day per=developer tokens=1000
        req alice model=unpriced in=600 out=300
        req alice model=unpriced in=100        # now exactly at the limit
        req alice model=unpriced               # no estimate, still refused
        ",
        expect![[r#"
            A alice: allow, closest t[developer=alice] 0 tokens of 1,000 tokens (0%)
            A alice: allow, closest t[developer=alice] 900 tokens of 1,000 tokens (90%)
            A alice: DENY budget `t` (1,000 tokens per day, developer=alice) is spent: 1,000 tokens used; resets 2026-11-24T00:00:00Z
        "#]],
    );
}

#[test]
fn windows_roll_over_on_calendar_boundaries() {
    check(
        "
        budget rate window=minute per=developer requests=1
        at 2026-11-23T13:15:59Z
        req alice
        req alice
        at 2026-11-23T13:16:00Z
        req alice
        ",
        expect![[r#"
            A alice: allow, closest rate[developer=alice] 0 requests of 1 request (0%)
            A alice: DENY budget `rate` (1 request per minute, developer=alice) is spent: 1 request used; resets 2026-11-23T13:16:00Z
            A alice: allow, closest rate[developer=alice] 0 requests of 1 request (0%)
        "#]],
    );
    check(
        "
        budget h window=hour per=developer requests=1
        at 2026-11-23T13:59:59Z
        req alice
        req alice
        at 2026-11-23T14:00:00Z
        req alice
        ",
        expect![[r#"
            A alice: allow, closest h[developer=alice] 0 requests of 1 request (0%)
            A alice: DENY budget `h` (1 request per hour, developer=alice) is spent: 1 request used; resets 2026-11-23T14:00:00Z
            A alice: allow, closest h[developer=alice] 0 requests of 1 request (0%)
        "#]],
    );
    check(
        "
        budget d window=day per=developer requests=1
        at 2026-12-31T23:59:59Z
        req alice
        req alice
        at 2027-01-01T00:00:00Z
        req alice
        ",
        expect![[r#"
            A alice: allow, closest d[developer=alice] 0 requests of 1 request (0%)
            A alice: DENY budget `d` (1 request per day, developer=alice) is spent: 1 request used; resets 2027-01-01T00:00:00Z
            A alice: allow, closest d[developer=alice] 0 requests of 1 request (0%)
        "#]],
    );
    // Weeks start on Monday: 2026-11-29 is a Sunday.
    check(
        "
        budget w window=week per=developer requests=1
        at 2026-11-23T00:00:00Z   # Monday
        req alice
        at 2026-11-29T23:59:59Z
        req alice
        at 2026-11-30T00:00:00Z
        req alice
        ",
        expect![[r#"
            A alice: allow, closest w[developer=alice] 0 requests of 1 request (0%)
            A alice: DENY budget `w` (1 request per week, developer=alice) is spent: 1 request used; resets 2026-11-30T00:00:00Z
            A alice: allow, closest w[developer=alice] 0 requests of 1 request (0%)
        "#]],
    );
    // Months have their own lengths; February 2028 is a leap month.
    check(
        "
        budget mo window=month per=developer cost_usd=1
        price m in=1 out=1
        at 2028-02-01T00:00:00Z
        req alice in=1000000
        at 2028-02-29T23:59:59Z
        req alice
        at 2028-03-01T00:00:00Z
        req alice
        ",
        expect![[r#"
            A alice: allow, closest mo[developer=alice] 0 USD of 1 USD (0%) [cents 0/100]
            A alice: DENY budget `mo` (1 USD per month, developer=alice) is spent: 1 USD used; resets 2028-03-01T00:00:00Z [cents 100/100]
            A alice: allow, closest mo[developer=alice] 0 USD of 1 USD (0%) [cents 0/100]
        "#]],
    );
}

#[test]
fn the_tightest_budget_is_reported() {
    check(
        "
        price m in=10 out=30
        budget developer-monthly window=month per=developer cost_usd=200
        budget developer-daily window=day per=developer cost_usd=20
        budget developer-rate window=minute per=developer requests=3
        budget org-tokens window=month tokens=100000000
        req alice in=100000 out=20000      # 1.60 USD
        req alice in=100000 out=20000
        req alice in=100000 out=20000      # third request this minute
        req alice                          # rate limit hit; it resets first, daily is not hit
        at 2026-11-23T13:16:00Z
        req alice in=1000000 out=200000    # 16 USD: daily now at 20.80 of 20
        req alice                          # daily over: blocks until tomorrow
        req bob                            # others unaffected
        ",
        expect![[r#"
            A alice: allow, closest developer-rate[developer=alice] 0 requests of 3 requests (0%) [cents 0/20000]
            A alice: allow, closest developer-rate[developer=alice] 1 request of 3 requests (33%) [cents 160/2000]
            A alice: allow, closest developer-rate[developer=alice] 2 requests of 3 requests (66%) [cents 320/2000]
            A alice: DENY budget `developer-rate` (3 requests per minute, developer=alice) is spent: 3 requests used; resets 2026-11-23T13:16:00Z [cents 480/2000]
            A alice: allow, closest developer-rate[developer=alice] 0 requests of 3 requests (0%) [cents 480/2000]
            A alice: DENY budget `developer-daily` (20 USD per day, developer=alice) is spent: 20.80 USD used; resets 2026-11-24T00:00:00Z [cents 2080/2000]
            A bob: allow, closest developer-rate[developer=bob] 0 requests of 3 requests (0%) [cents 0/20000]
        "#]],
    );
    // When several limits are over, the message names the one that blocks longest.
    check(
        "
        price m in=10 out=30
        budget developer-monthly window=month per=developer cost_usd=5
        budget developer-rate window=minute per=developer requests=1
        req alice in=1000000
        req alice
        ",
        expect![[r#"
            A alice: allow, closest developer-rate[developer=alice] 0 requests of 1 request (0%) [cents 0/500]
            A alice: DENY budget `developer-monthly` (5 USD per month, developer=alice) is spent: 10 USD used; resets 2026-12-01T00:00:00Z [cents 1000/500]
        "#]],
    );
}

#[test]
fn team_tag_and_filtered_budgets() {
    // A person in two teams counts against both teams' budgets.
    check(
        "
        budget team-daily window=day per=team tokens=1000
        req alice teams=payments,platform in=800
        req bob teams=payments est=300      # payments: 800 + 300 > 1000
        req priya teams=platform est=200    # platform: 800 + 200 = 1000, allowed
        req dana teams=data est=999
        req nobody                          # in no team: not subject to per-team budgets
        ",
        expect![[r#"
            A alice: allow, closest team-daily[team=payments] 0 tokens of 1,000 tokens (0%)
            A bob: DENY budget `team-daily` (1,000 tokens per day, team=payments) is spent: 800 tokens used; resets 2026-11-24T00:00:00Z
            A priya: allow, closest team-daily[team=platform] 800 tokens of 1,000 tokens (80%)
            A dana: allow, closest team-daily[team=data] 0 tokens of 1,000 tokens (0%)
            A nobody: allow, no budget applies
        "#]],
    );
    // Tags: counted per value; requests without the tag are not subject.
    check(
        "
        budget per-project window=month per=tag:project requests=2
        req alice tags=project=checkout,env=dev
        req bob tags=project=checkout
        req carol tags=env=dev,project=checkout
        req carol tags=project=search
        req carol
        ",
        expect![[r#"
            A alice: allow, closest per-project[tag:project=checkout] 0 requests of 2 requests (0%)
            A bob: allow, closest per-project[tag:project=checkout] 1 request of 2 requests (50%)
            A carol: DENY budget `per-project` (2 requests per month, tag:project=checkout) is spent: 2 requests used; resets 2026-12-01T00:00:00Z
            A carol: allow, closest per-project[tag:project=search] 0 requests of 2 requests (0%)
            A carol: allow, no budget applies
        "#]],
    );
    // `where` narrows a budget; on a `per` dimension it also picks which values get a count.
    check(
        "
        budget payments-gpt window=day where=team:payments where=model:gpt-4o;gpt-4.1 requests=1
        budget big-repos window=day per=repo,team where=team:web requests=1
        req alice teams=payments model=gpt-4o
        req bob teams=payments,web model=gpt-4.1
        req bob teams=payments,web model=claude repo=acme/storefront
        req bob teams=payments,web model=claude repo=acme/storefront
        req lena teams=web model=claude repo=acme/other
        req lena teams=web model=claude
        ",
        expect![[r#"
            A alice: allow, closest payments-gpt[] 0 requests of 1 request (0%)
            A bob: DENY budget `payments-gpt` (1 request per day) is spent: 1 request used; resets 2026-11-24T00:00:00Z
            A bob: allow, closest big-repos[repo=acme/storefront,team=web] 0 requests of 1 request (0%)
            A bob: DENY budget `big-repos` (1 request per day, repo=acme/storefront,team=web) is spent: 1 request used; resets 2026-11-24T00:00:00Z
            A lena: allow, closest big-repos[repo=acme/other,team=web] 0 requests of 1 request (0%)
            A lena: allow, no budget applies
        "#]],
    );
}

#[test]
fn reservations_count_requests_in_flight() {
    check(
        "
        budget rate window=minute per=developer requests=2
        budget daily window=day per=developer tokens=1000
        req alice est=400 hold=r1
        req alice est=400 hold=r2          # 800 reserved
        req alice est=400                  # over both: 3 requests, 1200 tokens
        finish r1 in=100 out=50            # actual 150 replaces the 400 estimate
        release r2                         # no provider took it on: a request, no tokens
        at 2026-11-23T13:16:00Z
        req alice est=850 hold=r3
        req alice est=1                    # 150 + 850 reserved + 1 > 1000
        finish r3 in=100
        req alice est=1 hold=r4            # 250 + 1
        drop r4                            # no usage reported: the estimate stays (251)
        at 2026-11-23T13:17:00Z
        req alice est=750                  # 251 + 750 > 1000
        ",
        expect![[r#"
            A alice: allow, closest rate[developer=alice] 0 requests of 2 requests (0%)
            A alice: allow, closest rate[developer=alice] 1 request of 2 requests (50%)
            A alice: DENY budget `daily` (1,000 tokens per day, developer=alice) is spent: 800 tokens used; resets 2026-11-24T00:00:00Z
            A alice: allow, closest daily[developer=alice] 150 tokens of 1,000 tokens (15%)
            A alice: DENY budget `daily` (1,000 tokens per day, developer=alice) is spent: 1,000 tokens used; resets 2026-11-24T00:00:00Z
            A alice: allow, closest rate[developer=alice] 1 request of 2 requests (50%)
            A alice: DENY budget `daily` (1,000 tokens per day, developer=alice) is spent: 251 tokens used; resets 2026-11-24T00:00:00Z
        "#]],
    );
}

#[test]
fn replicas_share_usage_through_the_store() {
    check(
        "
        budget developer-rate window=minute per=developer requests=3
        on A
        req alice
        req alice
        on B
        req alice                          # B has not seen A's requests yet
        req alice
        on A
        flush
        on B
        flush                              # writes B's 2, reads A's 2
        req alice
        on A
        req alice                          # A has not read B's yet: 2 of 3
        flush
        req alice
        at 2026-11-23T13:16:00Z
        req alice
        flush                              # the ended minute's counter leaves memory
        ",
        expect![[r#"
            A alice: allow, closest developer-rate[developer=alice] 0 requests of 3 requests (0%)
            A alice: allow, closest developer-rate[developer=alice] 1 request of 3 requests (33%)
            B alice: allow, closest developer-rate[developer=alice] 0 requests of 3 requests (0%)
            B alice: allow, closest developer-rate[developer=alice] 1 request of 3 requests (33%)
            flush A: written 1, refreshed 1, evicted 0
            flush B: written 1, refreshed 1, evicted 0
            B alice: DENY budget `developer-rate` (3 requests per minute, developer=alice) is spent: 4 requests used; resets 2026-11-23T13:16:00Z
            A alice: allow, closest developer-rate[developer=alice] 2 requests of 3 requests (66%)
            flush A: written 1, refreshed 1, evicted 0
            A alice: DENY budget `developer-rate` (3 requests per minute, developer=alice) is spent: 5 requests used; resets 2026-11-23T13:16:00Z
            A alice: allow, closest developer-rate[developer=alice] 0 requests of 3 requests (0%)
            flush A: written 1, refreshed 1, evicted 1
        "#]],
    );
}

#[test]
fn tags_header() {
    let ok = meter::parse_tags(" project=checkout , env=dev ,").unwrap();
    assert_eq!(ok, [("project", "checkout"), ("env", "dev")]);
    assert!(meter::parse_tags("").unwrap().is_empty());
    for bad in ["project", "a b=c", "k=", "k=1,k=2"] {
        assert!(meter::parse_tags(bad).is_err(), "{bad}");
    }
    let many: Vec<String> = (0..17).map(|i| format!("k{i}=v")).collect();
    assert!(meter::parse_tags(&many.join(",")).is_err());
}

#[test]
fn budgets_can_be_replaced() {
    let clock = Arc::new(ManualClock::new(time("2026-11-23T13:15:10Z")));
    let one = |n: u64| Budgets {
        budgets: vec![parse_budget(
            "rate",
            &["window=minute", "per=developer", &format!("requests={n}")],
        )],
    };
    let m = Meter::with_clock(&one(1), clock);
    let dims = Dimensions {
        developer: "alice",
        ..Dimensions::default()
    };
    let c = m.check(&dims, Default::default());
    assert!(!c.state.exceeded);
    m.reserve(&c).record(0, 0);
    assert!(m.check(&dims, Default::default()).state.exceeded);
    m.set_budgets(&one(2));
    assert!(
        !m.check(&dims, Default::default()).state.exceeded,
        "same name keeps its count, new limit"
    );
    m.set_budgets(&Budgets::default());
    assert_eq!(
        m.check(&dims, Default::default()).state,
        model::BudgetState::default()
    );
}

/// The gateway runs `flush` in a spawned task and shares the meter between request tasks.
#[test]
fn meter_and_flush_are_send() {
    fn send<T: Send + Sync>(_: &T) {}
    fn send_future<F: Future + Send>(_: F) {}
    let m = Meter::new(&Budgets::default());
    send(&m);
    let store_for_types = |s: &store::Store| send_future(m.flush(s));
    let _ = store_for_types;
}
