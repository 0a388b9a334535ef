/// A token bucket with a one-second burst, driven by the broker's clock. Going into debt is allowed
/// (the packet was already read); the caller pauses reading until the debt is repaid.
struct TokenBucket {
    /// Tokens per second; 0 means unlimited.
    let rate: Int
    private var tokens: Double
    private var updatedAt: BrokerInstant?

    init(rate: Int) {
        self.rate = rate
        self.tokens = Double(rate)
    }

    /// Takes `amount` tokens. Returns nil if within the rate, or the time at which the bucket is no
    /// longer in debt.
    mutating func take(_ amount: Int, at now: BrokerInstant) -> BrokerInstant? {
        guard rate > 0 else { return nil }
        if let updatedAt {
            let elapsed = Double(now.nanoseconds(since: updatedAt)) / 1e9
            tokens = min(Double(rate), tokens + elapsed * Double(rate))
        }
        updatedAt = now
        tokens -= Double(amount)
        guard tokens < 0 else { return nil }
        return now.adding(seconds: -tokens / Double(rate))
    }
}
