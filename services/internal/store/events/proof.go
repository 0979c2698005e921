package events

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"kirjaamo.dev/contracts"
	"kirjaamo.dev/services/internal/ledger"
)

// Proof is what lets a person check that an event shown to them is what the register published and
// the platform stored, without taking the platform's word for it (docs/processing-proof.md): the
// event in canonical form, the nonce and the leaf hash they make, the path from the leaf to the root
// of the event's block, the block's header and the link it makes with the one before, and the
// platform's signed checkpoint of the block, with the public key that checks it. Published is the
// first checkpoint of the log published outside the database that covers the block, if one is yet.
type Proof struct {
	Event          contracts.ProcessingEvent `json:"event"`
	EventCanonical string                    `json:"event_canonical"`
	Nonce          []byte                    `json:"nonce"`
	LeafHash       []byte                    `json:"leaf_hash"`
	Position       int                       `json:"position"`
	Path           [][]byte                  `json:"path"`
	Block          Header                    `json:"block"`
	BlockBody      string                    `json:"block_body"`
	Prev           []byte                    `json:"prev"`
	Link           []byte                    `json:"link"`
	LinkKey        []byte                    `json:"link_key"`
	Checkpoint     ledger.Checkpoint         `json:"checkpoint"`
	PublicKey      []byte                    `json:"public_key"`
	Published      *ledger.Checkpoint        `json:"published,omitempty"`
}

// Proof builds the proof of one of a person's events visible at now, and checks it as the person
// would (Check); problem says what does not check, "" if all does. The path is made from every event
// of the event's block, each opened and its leaf made again, so a block whose events were edited,
// removed or moved gives no path to its root.
func (s *Store) Proof(ctx context.Context, person []contracts.Identifier, registerID, eventID string, now time.Time) (p Proof, problem string, err error) {
	r, err := s.find(ctx, person, registerID, eventID, now)
	if err != nil {
		return p, "", err
	}
	if err := s.loadLogs(ctx); err != nil {
		return p, "", err
	}
	blocks, err := s.blocks(ctx, []row{r})
	if err != nil {
		return p, "", err
	}
	b, ok := blocks[[2]int64{int64(r.log), r.block}]
	if !ok {
		return p, ProblemBlockChanged, nil
	}
	rows, err := s.db.Pool.Query(ctx, `SELECT `+rowColumns+` FROM processing_events WHERE log = $1 AND block = $2 ORDER BY position`, r.log, r.block)
	if err != nil {
		return p, "", fmt.Errorf("events: proof: %w", err)
	}
	inBlock, err := collect(rows)
	if err != nil {
		return p, "", err
	}
	leaves := make([][]byte, b.Count)
	for i := range inBlock {
		ev, part, err := s.open(&inBlock[i])
		if err != nil || inBlock[i].position >= b.Count {
			return p, ProblemChanged, nil
		}
		leaf, err := leafOf(ev, part.Nonce)
		if err != nil {
			return p, "", err
		}
		leaves[inBlock[i].position] = leaf
		if inBlock[i].position == r.position {
			canonical, _ := Canonical(&ev)
			p.Event, p.EventCanonical, p.Nonce, p.LeafHash = ev, string(canonical), part.Nonce, leaf
		}
	}
	for _, l := range leaves {
		if l == nil {
			// A leaf whose event is gone: deleted by retention (the block holds events older than it),
			// or removed. The root cannot be made again; the person is told so.
			return p, "another event of its block is no longer stored, so the path to the block's root cannot be made", nil
		}
	}
	body, err := b.Body()
	if err != nil {
		return p, "", err
	}
	public := s.signer.Public()
	p.Position, p.Path, p.Block, p.BlockBody = r.position, Path(leaves, r.position), b.Header, string(body)
	p.Prev, p.Link, p.LinkKey, p.Checkpoint = b.prev, b.link, LinkKey(), b.checkpoint()
	p.PublicKey = public[b.signedBy]
	var published ledger.Checkpoint
	err = s.db.Pool.QueryRow(ctx, `SELECT checkpoint FROM processing_checkpoints WHERE log = $1 AND seq >= $2 ORDER BY seq LIMIT 1`,
		r.log, r.block).Scan(&published)
	if err == nil {
		p.Published = &published
	}
	if err := p.Check(public); err != nil {
		return p, err.Error(), nil
	}
	return p, "", nil
}

func leafOf(ev contracts.ProcessingEvent, nonce []byte) ([]byte, error) {
	canonical, err := Canonical(&ev)
	if err != nil {
		return nil, err
	}
	return LeafHash(append(append([]byte(nil), nonce...), canonical...)), nil
}

// Check checks a proof as a person would, step by step (docs/processing-proof.md), with the
// platform's public keys as published (kirjaamo audit keys): the leaf hash is what the nonce and
// the event make; the path leads from it to the block's root; the block's header is what its body
// says, and with the link before it makes the block's link under the public link key; and the
// checkpoint of the block, which names that link, carries the platform's signature.
func (p *Proof) Check(public ledger.PublicKeys) error {
	h := sha256.New()
	h.Write([]byte{0})
	h.Write(p.Nonce)
	h.Write([]byte(p.EventCanonical))
	switch {
	case !bytes.Equal(h.Sum(nil), p.LeafHash):
		return errors.New("the leaf hash is not what the nonce and the event make")
	case !InTree(p.LeafHash, p.Position, p.Block.Count, p.Path, p.Block.Root):
		return errors.New("the path does not lead from the leaf to the block's root")
	}
	body, err := p.Block.Body()
	if err != nil || string(body) != p.BlockBody {
		return errors.New("the block's body is not its header in canonical form")
	}
	keys, err := ledger.NewKeys(LinkKeyID, map[string][]byte{LinkKeyID: p.LinkKey})
	if err != nil || !bytes.Equal(p.LinkKey, LinkKey()) {
		return errors.New("the link key is not the processing logs' public one")
	}
	link, err := keys.Link(LinkKeyID, p.Prev, body)
	if err != nil || !bytes.Equal(link, p.Link) {
		return errors.New("the block's link is not what its body and the link before it make")
	}
	c := p.Checkpoint
	if c.Log != p.Block.Log || c.Seq != p.Block.Seq || !bytes.Equal(c.Head, p.Link) {
		return errors.New("the checkpoint is not of this block")
	}
	if err := public.Check(c); err != nil {
		return err
	}
	if pub, ok := public[c.KeyID]; !ok || !bytes.Equal(pub, ed25519.PublicKey(p.PublicKey)) {
		return errors.New("the public key in the proof is not the platform's")
	}
	if p.Published != nil {
		if err := public.Check(*p.Published); err != nil {
			return err
		}
		if p.Published.Log != c.Log || p.Published.Seq < c.Seq {
			return errors.New("the published checkpoint does not cover the block")
		}
	}
	return nil
}
