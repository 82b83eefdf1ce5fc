//! What a request cost: token usage priced by the price table, in integer micro-USD.

use model::PriceTable;

/// Token usage of one request as the provider reported it. The four counts do not overlap:
/// `input_tokens` are the input tokens neither read from nor written to the prompt cache
/// (Anthropic's `input_tokens`; for OpenAI, `prompt_tokens` minus `cached_tokens`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_write_tokens: u64,
}

impl Usage {
    /// What token budgets count: all four together.
    pub fn total_tokens(&self) -> u64 {
        self.input_tokens
            .saturating_add(self.output_tokens)
            .saturating_add(self.cache_read_tokens)
            .saturating_add(self.cache_write_tokens)
    }
}

/// The cost of `usage` on `model` in micro-USD, rounded to the nearest micro-USD (half up).
/// A model without a price costs 0.
pub fn cost(prices: &PriceTable, model: &str, usage: &Usage) -> u64 {
    let Some(p) = prices.get(model) else {
        return 0;
    };
    // Prices are micro-USD per million tokens: sum exactly, divide once.
    let total: u128 = [
        (usage.input_tokens, p.input),
        (usage.output_tokens, p.output),
        (usage.cache_read_tokens, p.cache_read),
        (usage.cache_write_tokens, p.cache_write),
    ]
    .iter()
    .map(|&(tokens, price)| u128::from(tokens) * u128::from(price))
    .sum();
    u64::try_from((total + 500_000) / 1_000_000).unwrap_or(u64::MAX)
}
