package cli

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"kirjaamo.dev/contracts"
	"kirjaamo.dev/services/internal/bus"
	"kirjaamo.dev/services/internal/config"
	"kirjaamo.dev/services/internal/ledger"
	"kirjaamo.dev/services/internal/platform"
	"kirjaamo.dev/services/internal/store"
	"kirjaamo.dev/services/internal/store/declarations"
	"kirjaamo.dev/services/internal/store/events"
	"kirjaamo.dev/workflows/codec"
)

func init() {
	commands["processing"] = Command{
		Summary: "processing events: processing verify [register ...] (each register's log against its published checkpoints; exit 1 naming the first bad block or event), processing check-proof FILE [KEYS] (a person's proof, offline, against the keys kirjaamo audit keys prints)",
		Run:     processingCommand,
	}
}

func processingCommand(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 || !slices.Contains([]string{"verify", "check-proof"}, args[0]) || (args[0] == "check-proof" && len(args) != 2 && len(args) != 3) {
		return fmt.Errorf("%w: processing verify [register ...] | processing check-proof FILE [KEYS]", errUsage)
	}
	if args[0] == "check-proof" {
		return checkProof(args[1:], stdout)
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
	nc, js, err := bus.Connect(ctx, natsCfg, "kirjaamo-processing-verify", slog.Default())
	if err != nil {
		return err
	}
	defer nc.Close()
	out := ledger.Checkpoints{JS: js}
	s := events.New(db, signer, &out)
	registers := args[1:]
	if len(registers) == 0 {
		if registers, err = s.Registers(ctx); err != nil {
			return err
		}
		slices.Sort(registers)
	}
	retention, err := retentions(ctx, declarations.New(db))
	if err != nil {
		return err
	}
	var broken []error
	for _, reg := range registers {
		rep, err := VerifyProcessing(ctx, s, out, reg, retention[reg])
		if err != nil {
			return err
		}
		printProcessingReport(stdout, rep)
		if rep.Broken != nil {
			broken = append(broken, fmt.Errorf("%s: %w", reg, rep.Broken))
		}
	}
	if len(broken) > 0 {
		return fmt.Errorf("%w: %w", ErrBroken, errors.Join(broken...))
	}
	return nil
}

// VerifyProcessing checks a register's whole processing log against every checkpoint published of it.
func VerifyProcessing(ctx context.Context, s *events.Store, out ledger.Checkpoints, registerID string, keep *contracts.Period) (events.Report, error) {
	published, err := out.All(ctx, events.Log(registerID))
	if err != nil {
		return events.Report{}, err
	}
	return s.Verify(ctx, registerID, published, keep, time.Now())
}

// retentions are the registers' declared retentions of their events, by register.
func retentions(ctx context.Context, d *declarations.Store) (map[string]*contracts.Period, error) {
	inForce, err := d.VersionsInForce(ctx, time.Now())
	if err != nil {
		return nil, err
	}
	out := map[string]*contracts.Period{}
	for _, v := range inForce {
		decl, err := v.Parse()
		if err != nil || decl.Processing == nil {
			continue
		}
		if p, ok := contracts.ParsePeriod(decl.Processing.Retention); ok {
			out[v.RegisterID] = &p
		}
	}
	return out, nil
}

func printProcessingReport(w io.Writer, rep events.Report) {
	fmt.Fprintf(w, "%s: %d blocks, %d events", events.Log(rep.RegisterID), rep.Chain.Last, rep.Events)
	if rep.Expired > 0 {
		fmt.Fprintf(w, ", %d deleted by the register's retention", rep.Expired)
	}
	fmt.Fprintln(w)
	if rep.Chain.Latest == nil {
		fmt.Fprintln(w, "  checkpoints: none published yet: only each block's own signature vouches for the log")
	} else {
		fmt.Fprintf(w, "  checkpoints: %d, the latest at block %d, signed %s; blocks after it: %d\n", rep.Chain.Checkpoints,
			rep.Chain.Latest.Seq, rep.Chain.Latest.At.Format(time.RFC3339), rep.Chain.Unanchored)
	}
	if rep.Broken != nil {
		fmt.Fprintf(w, "  BROKEN: %s\n", rep.Broken)
		return
	}
	fmt.Fprintln(w, "  intact: every block and event is as it was stored")
}

// checkProof checks a proof a person downloaded, as they would (docs/processing-proof.md), against
// the platform's public keys as `kirjaamo audit keys` prints them ("<id> ed25519:<base64>" a line):
// nothing else of the platform is needed. Without them it checks against the key the proof carries,
// and says that this key must still be compared with the platform's published one.
func checkProof(args []string, stdout io.Writer) error {
	file := args[0]
	raw, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	var p events.Proof
	if err := json.Unmarshal(raw, &p); err != nil {
		return fmt.Errorf("%s is not a proof: %w", file, err)
	}
	public := ledger.PublicKeys{p.Checkpoint.KeyID: ed25519.PublicKey(p.PublicKey)}
	if len(args) == 2 {
		keys, err := os.ReadFile(args[1])
		if err != nil {
			return err
		}
		public = ledger.PublicKeys{}
		for _, line := range strings.Split(strings.TrimSpace(string(keys)), "\n") {
			id, key, ok := strings.Cut(strings.TrimSpace(line), " ed25519:")
			b, err := base64.StdEncoding.DecodeString(key)
			if !ok || err != nil || len(b) != ed25519.PublicKeySize {
				return fmt.Errorf("%s: %q is not a key as kirjaamo audit keys prints it", args[1], line)
			}
			public[id] = b
		}
	} else {
		fmt.Fprintf(stdout, "no keys given: checking against the key the proof carries, %s ed25519:%s; compare it with the platform's published keys\n",
			p.Checkpoint.KeyID, base64.StdEncoding.EncodeToString(p.PublicKey))
	}
	if err := p.Check(public); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrBroken, file, err)
	}
	_, err = fmt.Fprintf(stdout, "the proof checks: event %s of %s is leaf %d of block %d, whose checkpoint the platform signed (key %s)\n",
		p.Event.EventID, p.Event.RegisterID, p.Position, p.Block.Seq, p.Checkpoint.KeyID)
	return err
}
