// Package gauges is what the platform's state in PostgreSQL says about its work, as Prometheus
// gauges: requests by status, open requests against their internal target and deadline, requests
// that need a clerk's attention, what each register has been sent and not answered and when it was
// last heard from, and what waits in the outbox per channel. The office's process serves them (one
// reading per scrape interval, however many scrape); dashboards take max() over its replicas.
//
// Labels are statuses, steps, register ids and channels: nothing about a person.
package gauges

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"kirjaamo.dev/services/catalogue"
	"kirjaamo.dev/workflows/request"
)

// DueWithinDays are the horizons of kirjaamo_open_requests_due_within_days.
var DueWithinDays = []int{1, 3, 7, 14}

// Every is how long one reading of the database serves scrapes.
const Every = 15 * time.Second

var (
	requests   = prometheus.NewDesc("kirjaamo_requests", "Requests by status.", []string{"status"}, nil)
	pastTarget = prometheus.NewDesc("kirjaamo_open_requests_past_internal_target",
		"Open requests (the office owes the reply) whose internal target, the last working day before the deadline, has passed.", nil, nil)
	pastDeadline = prometheus.NewDesc("kirjaamo_open_requests_past_deadline", "Open requests whose deadline has passed.", nil, nil)
	dueWithin    = prometheus.NewDesc("kirjaamo_open_requests_due_within_days",
		"Open requests whose deadline is at most this many days away (passed ones included).", []string{"days"}, nil)
	nearest = prometheus.NewDesc("kirjaamo_open_requests_nearest_deadline_days",
		"Days to the nearest deadline of an open request (negative once passed); absent with no open request.", nil, nil)
	attention = prometheus.NewDesc("kirjaamo_requests_needing_attention",
		"Requests a step of which failed for good and waits for a clerk, by step.", []string{"step"}, nil)
	awaited = prometheus.NewDesc("kirjaamo_register_answers_awaited",
		"Tasks sent to a register for requests still collecting answers, not yet answered.", []string{"register"}, nil)
	oldestAwaited = prometheus.NewDesc("kirjaamo_register_oldest_awaited_seconds",
		"How long the oldest unanswered task of a register has been waiting.", []string{"register"}, nil)
	lastHeartbeat = prometheus.NewDesc("kirjaamo_register_last_heartbeat_timestamp_seconds",
		"When a register's adapter was last heard from (Unix time).", []string{"register"}, nil)
	available = prometheus.NewDesc("kirjaamo_register_available",
		"1 if a register's adapter was heard from within the catalogue's heartbeat timeout, else 0.", []string{"register"}, nil)
	outboxUnsent = prometheus.NewDesc("kirjaamo_outbox_unsent", "Messages waiting in the outbox, by channel.", []string{"channel"}, nil)
	outboxOldest = prometheus.NewDesc("kirjaamo_outbox_oldest_unsent_seconds",
		"How long the oldest message waiting in the outbox has waited, by channel.", []string{"channel"}, nil)
	up = prometheus.NewDesc("kirjaamo_gauges_up", "1 if the last reading of the database succeeded.", nil, nil)
)

// Collector reads the gauges from the database.
type Collector struct {
	db *pgxpool.Pool

	mu      sync.Mutex
	readAt  time.Time
	metrics []prometheus.Metric
}

// New is a collector on the platform's database.
func New(db *pgxpool.Pool) *Collector { return &Collector{db: db} }

// Describe sends every description.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{requests, pastTarget, pastDeadline, dueWithin, nearest, attention, awaited, oldestAwaited,
		lastHeartbeat, available, outboxUnsent, outboxOldest, up} {
		ch <- d
	}
}

// Collect sends the last reading, reading again if it is older than Every.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.readAt) >= Every {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		metrics, err := c.read(ctx, time.Now())
		cancel()
		ok := 1.0
		if err != nil {
			ok = 0
			metrics = nil
		}
		c.metrics = append(metrics, prometheus.MustNewConstMetric(up, prometheus.GaugeValue, ok))
		c.readAt = time.Now()
	}
	for _, m := range c.metrics {
		ch <- m
	}
}

func gauge(d *prometheus.Desc, v float64, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

// read runs the queries; each uses an index (TestTheGaugesQueriesUseIndexes).
func (c *Collector) read(ctx context.Context, now time.Time) ([]prometheus.Metric, error) {
	var out []prometheus.Metric
	// Filled from the database's rows: a status no case has is not among them.
	//exhaustive:ignore
	byStatus := map[request.Status]float64{}
	if err := c.each(ctx, QueryByStatus, nil, func(scan func(...any) error) error {
		var s request.Status
		var n float64
		err := scan(&s, &n)
		byStatus[s] = n
		return err
	}); err != nil {
		return nil, err
	}
	for _, s := range request.Statuses {
		out = append(out, gauge(requests, byStatus[s], string(s)))
	}

	open := statuses(request.OpenStatuses())
	var past, overdue float64
	var nearestDays *float64
	within := make([]float64, len(DueWithinDays))
	dest := []any{&past, &overdue, &nearestDays}
	for i := range within {
		dest = append(dest, &within[i])
	}
	if err := c.db.QueryRow(ctx, QueryDeadlines, open, DueWithinDays[0], DueWithinDays[1], DueWithinDays[2], DueWithinDays[3]).Scan(dest...); err != nil {
		return nil, err
	}
	out = append(out, gauge(pastTarget, past), gauge(pastDeadline, overdue))
	for i, d := range DueWithinDays {
		out = append(out, gauge(dueWithin, within[i], strconv.Itoa(d)))
	}
	if nearestDays != nil {
		out = append(out, gauge(nearest, *nearestDays))
	}

	steps := map[string]float64{}
	if err := c.each(ctx, QueryAttention, nil, func(scan func(...any) error) error {
		var step string
		var n float64
		err := scan(&step, &n)
		steps[step] = n
		return err
	}); err != nil {
		return nil, err
	}
	for _, s := range request.Steps {
		out = append(out, gauge(attention, steps[string(s)], string(s)))
	}

	if err := c.each(ctx, QueryAwaited, []any{statuses(collecting)}, func(scan func(...any) error) error {
		var register string
		var n, oldest float64
		if err := scan(&register, &n, &oldest); err != nil {
			return err
		}
		out = append(out, gauge(awaited, n, register), gauge(oldestAwaited, oldest, register))
		return nil
	}); err != nil {
		return nil, err
	}
	if err := c.each(ctx, QueryLiveness, nil, func(scan func(...any) error) error {
		var register string
		var seen time.Time
		if err := scan(&register, &seen); err != nil {
			return err
		}
		alive := 0.0
		if catalogue.Available(seen, now) {
			alive = 1
		}
		out = append(out, gauge(lastHeartbeat, float64(seen.UnixMilli())/1000, register), gauge(available, alive, register))
		return nil
	}); err != nil {
		return nil, err
	}
	unsent := map[string][2]float64{}
	if err := c.each(ctx, QueryOutbox, nil, func(scan func(...any) error) error {
		var channel string
		var n, oldest float64
		err := scan(&channel, &n, &oldest)
		unsent[channel] = [2]float64{n, oldest}
		return err
	}); err != nil {
		return nil, err
	}
	for _, ch := range Channels {
		out = append(out, gauge(outboxUnsent, unsent[ch][0], ch), gauge(outboxOldest, unsent[ch][1], ch))
	}
	return out, nil
}

// each runs a query and scans each row.
func (c *Collector) each(ctx context.Context, sql string, args []any, row func(scan func(...any) error) error) error {
	rows, err := c.db.Query(ctx, sql, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := row(rows.Scan); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Channels are the outbox's channels: e-mail, a text message, or a notice that waits on the
// subject's case page (no address).
var Channels = []string{"email", "sms", "portal"}

// The queries, exported for the test that checks their plans at a million cases.
const (
	QueryByStatus = `SELECT status, count(*)::float8 FROM cases GROUP BY status`
	// QueryDeadlines counts open requests against their dates, in Finland's calendar days.
	QueryDeadlines = `SELECT (count(*) FILTER (WHERE internal_target < today))::float8, (count(*) FILTER (WHERE deadline < today))::float8,
		min(deadline - today)::float8, (count(*) FILTER (WHERE deadline - today <= $2))::float8,
		(count(*) FILTER (WHERE deadline - today <= $3))::float8, (count(*) FILTER (WHERE deadline - today <= $4))::float8,
		(count(*) FILTER (WHERE deadline - today <= $5))::float8
		FROM cases, (SELECT (now() AT TIME ZONE 'Europe/Helsinki')::date AS today) d WHERE status = ANY($1)`
	QueryAttention = `SELECT attention_step, count(*)::float8 FROM cases WHERE attention_step IS NOT NULL GROUP BY attention_step`
	QueryAwaited   = `SELECT r.register_id, count(*)::float8, extract(epoch FROM now() - min(r.dispatched_at))::float8
		FROM case_registers r JOIN cases c ON c.request_id = r.request_id
		WHERE r.awaited AND r.result_status IS NULL AND r.dispatched_at IS NOT NULL AND r.cancelled_at IS NULL AND c.status = ANY($1)
		GROUP BY r.register_id`
	QueryLiveness = `SELECT register_id, last_seen FROM register_liveness`
	// QueryOutbox tells the channels apart as the notifier does: a text message says so in its payload,
	// a message to the subject without an address waits on the case page, the rest (the office's
	// alarms among them) go by e-mail.
	QueryOutbox = `SELECT CASE WHEN payload->>'channel' = 'sms' THEN 'sms'
			WHEN recipient = '' AND kind NOT IN ('deadline_reminder', 'deadline_missed') THEN 'portal' ELSE 'email' END,
		count(*)::float8, extract(epoch FROM now() - min(created_at))::float8 FROM outbox WHERE sent_at IS NULL GROUP BY 1`
)

// collecting are the statuses in which a request waits for its registers' answers.
var collecting = []request.Status{request.StatusReceived, request.StatusDispatched, request.StatusAwaitingInformation}

func statuses(ss []request.Status) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = string(s)
	}
	return out
}
