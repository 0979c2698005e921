// Package limits counts calls against rate limits, in PostgreSQL, so that every process of a site
// counts against the same limits. A key is kept as a blind index (store.Index): who called, or from
// which address, is not in the table.
package limits

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"kirjaamo.dev/services/internal/store"
)

// Counter counts calls per key and window.
type Counter struct{ db *store.DB }

// New is the counter of a database.
func New(db *store.DB) *Counter { return &Counter{db: db} }

// Take counts one call against key in the current window of the given length, and returns 0 if it
// is within the limit, or else how long until the window ends and the key may call again.
func (c *Counter) Take(ctx context.Context, key string, limit int, window time.Duration) (time.Duration, error) {
	now := time.Now()
	start := now.Truncate(window)
	var count int
	err := c.db.Pool.QueryRow(ctx, `INSERT INTO rate_counts (key, window_start, count) VALUES ($1, $2, 1)
		ON CONFLICT (key, window_start) DO UPDATE SET count = rate_counts.count + 1 RETURNING count`,
		c.db.Keys.Index.Of("rate", key), start).Scan(&count)
	if err != nil {
		return 0, fmt.Errorf("limits: take: %w", err)
	}
	if rand.IntN(200) == 0 {
		// Windows long past count for nothing: now and then, a call clears them.
		_, _ = c.db.Pool.Exec(ctx, `DELETE FROM rate_counts WHERE window_start < now() - interval '2 days'`)
	}
	if count <= limit {
		return 0, nil
	}
	return start.Add(window).Sub(now), nil
}
