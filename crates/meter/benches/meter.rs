//! Cost of metering one gateway request: `check` + `reserve` + `record` against the example
//! bundle's four budgets, 1,000 developers in 10 teams (`cargo bench -p meter`).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use meter::{Dimensions, Meter, Usage};
use model::{Budget, Budgets, Filter, Limits, ModelPrice, PriceTable, Window};

fn budget(name: &str, per: &[&str], window: Window, limit: Limits) -> Budget {
    Budget {
        name: name.to_owned(),
        per: per.iter().map(|d| d.parse().unwrap()).collect(),
        filters: Vec::new(),
        window,
        limit,
    }
}

fn setup() -> (Meter, PriceTable, Vec<String>, Vec<String>) {
    let mut payments = budget(
        "payments-gpt-4o",
        &[],
        Window::Month,
        Limits {
            cost_micro_usd: Some(500_000_000),
            ..Limits::default()
        },
    );
    payments.filters = vec![
        Filter {
            dimension: "team".parse().unwrap(),
            values: vec!["team-3".to_owned()],
        },
        Filter {
            dimension: "model".parse().unwrap(),
            values: vec!["gpt-4o".to_owned()],
        },
    ];
    let budgets = Budgets {
        budgets: vec![
            budget(
                "developer-monthly",
                &["developer"],
                Window::Month,
                Limits {
                    cost_micro_usd: Some(200_000_000),
                    ..Limits::default()
                },
            ),
            budget(
                "team-daily-tokens",
                &["team"],
                Window::Day,
                Limits {
                    tokens: Some(u64::MAX / 2),
                    ..Limits::default()
                },
            ),
            budget(
                "developer-rate",
                &["developer"],
                Window::Minute,
                Limits {
                    requests: Some(u64::MAX / 2),
                    ..Limits::default()
                },
            ),
            payments,
        ],
    };
    let mut prices = PriceTable::default();
    prices.models.insert(
        "claude-sonnet-4".to_owned(),
        ModelPrice {
            input: 3_000_000,
            output: 15_000_000,
            cache_read: 300_000,
            cache_write: 3_750_000,
        },
    );
    let developers = (0..1000).map(|i| format!("dev-{i}")).collect();
    let teams = (0..10).map(|i| format!("team-{i}")).collect();
    (Meter::new(&budgets), prices, developers, teams)
}

fn bench(c: &mut Criterion) {
    let (meter, prices, developers, teams) = setup();
    let usage = Usage {
        input_tokens: 1_200,
        output_tokens: 350,
        cache_read_tokens: 50_000,
        cache_write_tokens: 0,
    };
    let mut i = 0usize;
    c.bench_function("check+reserve+record (4 budgets, 1k developers)", |b| {
        b.iter(|| {
            i = (i + 1) % developers.len();
            let dims = Dimensions {
                developer: &developers[i],
                teams: vec![&teams[i % teams.len()]],
                tool: "claude-code",
                model: "claude-sonnet-4",
                repo: Some("acme/storefront"),
                tags: Vec::new(),
            };
            let check = meter.check(&dims, meter::estimate(&prices, dims.model, 1_200));
            let reservation = meter.reserve(black_box(&check));
            reservation.record(
                usage.total_tokens(),
                meter::cost(&prices, dims.model, &usage),
            );
        })
    });
    c.bench_function("check only", |b| {
        b.iter(|| {
            i = (i + 1) % developers.len();
            let dims = Dimensions {
                developer: &developers[i],
                teams: vec![&teams[i % teams.len()]],
                tool: "claude-code",
                model: "claude-sonnet-4",
                repo: Some("acme/storefront"),
                tags: Vec::new(),
            };
            black_box(meter.check(&dims, meter::estimate(&prices, dims.model, 1_200)))
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
