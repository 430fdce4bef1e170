"""The public pool (公海): customers and leads nobody owns, claimed (领取) by the pools'
members within their limits, released by owners, assigned and transferred (转移) by managers,
locked (锁定) by owners, and returned by each pool's reclaim rules (回收规则) in a daily
set-based sweep; the owner history of every customer and lead (docs/pools.md)."""
