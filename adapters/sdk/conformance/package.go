package conformance

import (
	"bufio"
	"context"
	"crypto/ecdh"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"kirjaamo.dev/adapters/sdk"
	"kirjaamo.dev/contracts"
	"kirjaamo.dev/contracts/sealed"
)

// checkLargeResult asks for the known subject's records with an inline limit of 1 byte, so that any
// record must come as a package, sealed to a case key the kit makes, and reads the package back as
// the platform does.
func (c *checker) checkLargeResult(ctx context.Context) {
	if !c.decl.Supports(contracts.OpLookup) {
		c.add(CheckLargeResult, Skip, "the register declares no lookup, so the platform sends it none")
		return
	}
	ids, _ := c.knownSubject()
	if ids == nil || c.lookups[CheckKnownSubject] != contracts.StatusFound || c.knownRecords == 0 {
		c.add(CheckLargeResult, Skip, "needs the known subject's records, found by an ordinary lookup (see known-subject)")
		return
	}
	key, err := sealed.NewKey()
	if err != nil {
		c.add(CheckLargeResult, Fail, "the kit could not make a case key: %v", err)
		return
	}
	task := c.p.newTask(contracts.OpLookup, ids)
	task.Package = &contracts.PackageTarget{Key: base64.StdEncoding.EncodeToString(key.PublicKey().Bytes()), InlineLimit: 1}
	bucket := contracts.PackageBucket(c.cfg.RegisterID)
	howTo := fmt.Sprintf("Above the task's package.inline_limit, write the records as JSON Lines (one record per line), seal "+
		"them to package.key as kirjaamo.dev/contracts/sealed specifies (sealed/testdata/vector.json is a worked example), put "+
		"them in the object store bucket %s under the task id, and answer found with package (the plaintext's record count, "+
		"size and SHA-256, and the sealing's ephemeral key and chunk size) instead of records: PROTOCOL.md, \"Large results: "+
		"packages\". The Go SDK does this for a Lookup or Export handler", bucket)
	res, ok, err := c.p.ask(ctx, task)
	switch {
	case err != nil:
		c.add(CheckLargeResult, Fail, "%v", err)
		return
	case !ok:
		c.add(CheckLargeResult, Fail, "no answer within %s to a lookup for the known subject whose records must come as a package "+
			"(package.inline_limit 1 byte). %s", c.cfg.Timeout, howTo)
		return
	}
	r := res.Result
	switch {
	case r.Status == contracts.StatusFound && r.Package == nil:
		c.add(CheckLargeResult, Fail, "the known subject's %d record(s) came inline, though the task's package.inline_limit is 1 byte: "+
			"records larger than the limit must come as a package, or a large register's answer exceeds what NATS carries and "+
			"the request waits for it until its deadline. %s", len(r.Records), howTo)
		return
	case r.Status != contracts.StatusFound:
		c.add(CheckLargeResult, Fail, "a lookup for the known subject with package set was answered %s; the same lookup without it "+
			"found %d record(s). %s", describe(r), c.knownRecords, howTo)
		return
	}
	defer c.p.removePackage(bucket, r.Package.Object)
	got, problem := c.p.readPackage(ctx, key, task, r.Package)
	if problem != "" {
		c.add(CheckLargeResult, Fail, "%s", problem)
		return
	}
	if got != int64(c.knownRecords) {
		c.add(CheckLargeResult, Fail, "the package holds %d record(s), the ordinary lookup found %d: a package holds every record "+
			"of the subject, the same ones that would travel inline", got, c.knownRecords)
		return
	}
	c.add(CheckLargeResult, Pass, "the known subject's %d record(s) came as a package of %d bytes in %s, sealed to the case key; "+
		"it opened whole: size, SHA-256 and record count match, each line a valid record", got, r.Package.Size, bucket)
}

// readPackage reads a result's package from the register's bucket and opens it, as the platform
// does. It returns the number of records, or what is wrong, in words for the adapter's owner.
func (p *platform) readPackage(ctx context.Context, key *ecdh.PrivateKey, task contracts.Task, ref *contracts.PackageRef) (int64, string) {
	bucket, object := contracts.PackageBucket(task.RegisterID), contracts.PackageObject(task.TaskID)
	var wrong []string
	if ref.Bucket != bucket {
		wrong = append(wrong, fmt.Sprintf("bucket is %q, want the register's own, %q", ref.Bucket, bucket))
	}
	if ref.Object != object {
		wrong = append(wrong, fmt.Sprintf("object is %q, want the task id, %q", ref.Object, object))
	}
	if ref.Format != contracts.PackageFormat {
		wrong = append(wrong, fmt.Sprintf("format is %q, want %q", ref.Format, contracts.PackageFormat))
	}
	if ref.Sealing.Scheme != contracts.SealingScheme {
		wrong = append(wrong, fmt.Sprintf("sealing.scheme is %q, want %q", ref.Sealing.Scheme, contracts.SealingScheme))
	}
	ephemeral, err := base64.StdEncoding.DecodeString(ref.Sealing.EphemeralKey)
	if err != nil || len(ephemeral) != 32 {
		wrong = append(wrong, "sealing.ephemeral_key is not a 32-byte X25519 public key in standard base64")
	}
	if len(wrong) > 0 {
		return 0, "the result's package reference is wrong: " + strings.Join(wrong, "; ")
	}
	// A package that never arrives whole must fail the check, not hang it.
	ctx, cancel := context.WithTimeout(ctx, max(p.cfg.Timeout, time.Minute))
	defer cancel()
	stored, err := sdk.ReadObject(ctx, p.js, bucket, object)
	if err != nil {
		return 0, fmt.Sprintf("the result refers to the object %s in %s, which the kit cannot read (%v): put the whole package "+
			"in the bucket before answering", object, bucket, err)
	}
	defer stored.Close()
	opened, err := sealed.NewReader(stored, key, ephemeral, object, ref.Sealing.ChunkSize)
	if err != nil {
		return 0, fmt.Sprintf("the package cannot be opened: %v", err)
	}
	h := sha256.New()
	lines := bufio.NewReader(io.TeeReader(opened, h))
	var size, records int64
	for {
		line, err := lines.ReadBytes('\n')
		size += int64(len(line))
		if len(line) > 0 {
			records++
			var rec contracts.Record
			if err := json.Unmarshal(line, &rec); err != nil {
				return 0, fmt.Sprintf("line %d of the package is not a record as JSON (%v): each line is one record, and ends with a newline", records, err)
			}
			if err := contracts.Validate(&rec); err != nil {
				return 0, fmt.Sprintf("line %d of the package is not a valid record: %v", records, err)
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if errors.Is(err, sealed.ErrTampered) {
			return 0, fmt.Sprintf("the package does not open with the case key (chunk after %d bytes): seal it to the task's "+
				"package.key for the object name %q with a fresh ephemeral key, given in sealing.ephemeral_key, in chunks of "+
				"sealing.chunk_size bytes, the last one sealed as the last (kirjaamo.dev/contracts/sealed; sealed/testdata/vector.json "+
				"is a worked example)", size, object)
		}
		if err != nil {
			return 0, fmt.Sprintf("the package cannot be read from %s: %v: put it whole before answering", bucket, err)
		}
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if records != ref.Records {
		wrong = append(wrong, fmt.Sprintf("records is %d, the package holds %d", ref.Records, records))
	}
	if size != ref.Size {
		wrong = append(wrong, fmt.Sprintf("size is %d, the package's plaintext is %d bytes", ref.Size, size))
	}
	if sum != ref.SHA256 {
		wrong = append(wrong, fmt.Sprintf("sha256 is %s, the plaintext's is %s", ref.SHA256, sum))
	}
	if len(wrong) > 0 {
		return 0, "the package opened, but the result does not describe it: " + strings.Join(wrong, "; ") +
			": give the record count, size and SHA-256 of the JSON Lines before sealing"
	}
	return records, ""
}

// removePackage deletes the kit's package: sealed or not, it is the known subject's data.
func (p *platform) removePackage(bucket, object string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if obs, err := p.js.ObjectStore(ctx, bucket); err == nil {
		_ = obs.Delete(ctx, object)
	}
}
