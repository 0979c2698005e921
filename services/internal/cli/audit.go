package cli

import (
	"context"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/push"
	"github.com/prometheus/common/expfmt"

	"kirjaamo.dev/services/internal/bus"
	"kirjaamo.dev/services/internal/config"
	"kirjaamo.dev/services/internal/ledger"
	"kirjaamo.dev/services/internal/platform"
	"kirjaamo.dev/services/internal/store"
	"kirjaamo.dev/services/internal/store/record"
	"kirjaamo.dev/workflows/codec"
)

func init() {
	commands["audit"] = Command{
		Summary: "check the record: audit verify [-push URL] (the whole record against its checkpoints; exit 1 naming the first bad entry; -push sends the outcome to a Prometheus Pushgateway), audit checkpoint, audit keys",
		Run:     audit,
	}
}

// ErrBroken is a record that does not verify: exit code 1, with the entry named.
var ErrBroken = errors.New("the record is broken")

func audit(ctx context.Context, args []string, stdout io.Writer) error {
	usage := fmt.Errorf("%w: audit verify [-push URL] | audit checkpoint | audit keys", errUsage)
	if len(args) < 1 || !slices.Contains([]string{"verify", "checkpoint", "keys"}, args[0]) {
		return usage
	}
	flags := flag.NewFlagSet("audit "+args[0], flag.ContinueOnError)
	flags.SetOutput(io.Discard)
	var push string
	if args[0] == "verify" {
		flags.StringVar(&push, "push", "", "a Prometheus Pushgateway to send the outcome to")
	}
	if err := flags.Parse(args[1:]); err != nil || flags.NArg() > 0 {
		return usage
	}
	var base platform.Base
	if err := config.Load(platform.Prefix, &base); err != nil {
		return err
	}
	keys, err := codec.ParseKeys(base.PayloadKeys)
	if err != nil {
		return err
	}
	signer, err := platform.CheckpointSigner(keys)
	if err != nil {
		return err
	}
	if args[0] == "keys" {
		// What an auditor checks checkpoints with: no secret.
		pub := signer.Public()
		for _, id := range slices.Sorted(func(yield func(string) bool) {
			for id := range pub {
				if !yield(id) {
					return
				}
			}
		}) {
			fmt.Fprintf(stdout, "%s ed25519:%s\n", id, base64.StdEncoding.EncodeToString(pub[id]))
		}
		return nil
	}
	var natsCfg bus.Config
	if err := config.Load(platform.Prefix, &natsCfg); err != nil {
		return err
	}
	ring, err := store.NewKeyring(keys)
	if err != nil {
		return err
	}
	db, err := store.Open(ctx, base.DatabaseURL, ring, slog.Default())
	if err != nil {
		return err
	}
	defer db.Close()
	nc, js, err := bus.Connect(ctx, natsCfg, "kirjaamo-audit", slog.Default())
	if err != nil {
		return err
	}
	defer nc.Close()
	rec, out := record.New(db), ledger.Checkpoints{JS: js}
	if args[0] == "checkpoint" {
		if err := ledger.EnsureStream(ctx, js, natsCfg.Replicas); err != nil {
			return err
		}
		cp := &ledger.Checkpointer{Log: record.Log, Head: rec.Head, Signer: signer, Out: out}
		c, err := cp.Once(ctx)
		if err != nil {
			return err
		}
		if c == nil {
			_, err = fmt.Fprintln(stdout, "the record is empty: nothing to checkpoint")
			return err
		}
		_, err = fmt.Fprintf(stdout, "checkpoint published: entry %d, link %x, signed %s with key %s\n", c.Seq, c.Head, c.At.Format(time.RFC3339), c.KeyID)
		return err
	}
	rep, err := VerifyRecord(ctx, rec, ring.Record, signer.Public(), out)
	if err != nil {
		return err
	}
	printReport(stdout, rep)
	if push != "" {
		if err := PushVerification(ctx, push, rep, time.Now()); err != nil {
			return err
		}
	}
	if rep.Broken != nil {
		return fmt.Errorf("%w: %w", ErrBroken, rep.Broken)
	}
	return nil
}

// VerifyRecord checks the whole record against every checkpoint published of it.
func VerifyRecord(ctx context.Context, rec *record.Record, keys *ledger.Keys, public ledger.PublicKeys, out ledger.Checkpoints) (ledger.Report, error) {
	checkpoints, err := out.All(ctx, record.Log)
	if err != nil {
		return ledger.Report{}, err
	}
	return ledger.Verify(keys, public, checkpoints, rec.Links(ctx))
}

func printReport(w io.Writer, rep ledger.Report) {
	fmt.Fprintf(w, "record: %d entries, the last %d", rep.Entries, rep.Last)
	if rep.Legacy > 0 {
		fmt.Fprintf(w, "; %d written before the record was keyed, held only by the chain after them", rep.Legacy)
	}
	fmt.Fprintln(w)
	if rep.Latest == nil {
		fmt.Fprintln(w, "checkpoints: none yet: nothing outside the database vouches for the record")
	} else {
		fmt.Fprintf(w, "checkpoints: %d, the latest at entry %d, signed %s\n", rep.Checkpoints, rep.Latest.Seq, rep.Latest.At.Format(time.RFC3339))
		fmt.Fprintf(w, "entries after the latest checkpoint: %d\n", rep.Unanchored)
	}
	if rep.Broken != nil {
		fmt.Fprintf(w, "BROKEN: entry %d %s\n", rep.Broken.Seq, rep.Broken.Reason)
		return
	}
	fmt.Fprintln(w, "intact: every entry is as it was written, and the record reaches its latest checkpoint")
}

// PushVerification sends the outcome of a verification to a Prometheus Pushgateway, as the job
// kirjaamo_audit, for the alert rules (deploy/prometheus/alerts.yaml): kirjaamo_record_verified is 1
// when the record is intact and 0 when it is broken, kirjaamo_record_last_verified_timestamp_seconds
// is when it was checked, and kirjaamo_record_entries how many entries it held. A verification that
// could not run (the database down) pushes nothing, so that the timestamp goes stale and the alert
// on verification not running fires.
func PushVerification(ctx context.Context, gateway string, rep ledger.Report, at time.Time) error {
	verified := prometheus.NewGauge(prometheus.GaugeOpts{Name: "kirjaamo_record_verified",
		Help: "1 when the record verified intact against its checkpoints, 0 when an entry is not as written."})
	last := prometheus.NewGauge(prometheus.GaugeOpts{Name: "kirjaamo_record_last_verified_timestamp_seconds",
		Help: "When the record was last verified, in Unix seconds."})
	entries := prometheus.NewGauge(prometheus.GaugeOpts{Name: "kirjaamo_record_entries", Help: "Entries in the record when it was last verified."})
	if rep.Broken == nil {
		verified.Set(1)
	}
	last.Set(float64(at.UnixNano()) / 1e9)
	entries.Set(float64(rep.Entries))
	err := push.New(gateway, "kirjaamo_audit").Collector(verified).Collector(last).Collector(entries).
		Format(expfmt.NewFormat(expfmt.TypeTextPlain)).PushContext(ctx)
	if err != nil {
		return fmt.Errorf("audit: push to %s: %w", gateway, err)
	}
	return nil
}
