package catalogue

import (
	"bytes"
	"encoding/json"
	"strings"
	"time"
)

// DiffLine is one line of a difference between two declaration versions.
type DiffLine struct {
	// Op is ' ' for a line both have, '-' for one only the old has, '+' for one only the new has.
	Op   byte
	Text string
}

// Diff compares two declarations as indented JSON, line by line, so that a DPO sees exactly what a
// new version changes before approving it. Either side may be nil (no previous version).
func Diff(old, new json.RawMessage) []DiffLine {
	a, b := lines(old), lines(new)
	// Longest common subsequence by dynamic programming: declarations are a few hundred lines.
	lcs := make([][]int, len(a)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out []DiffLine
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i] == b[j]:
			out = append(out, DiffLine{' ', a[i]})
			i, j = i+1, j+1
		case lcs[i+1][j] >= lcs[i][j+1]:
			out = append(out, DiffLine{'-', a[i]})
			i++
		default:
			out = append(out, DiffLine{'+', b[j]})
			j++
		}
	}
	for ; i < len(a); i++ {
		out = append(out, DiffLine{'-', a[i]})
	}
	for ; j < len(b); j++ {
		out = append(out, DiffLine{'+', b[j]})
	}
	return out
}

// Changes is the diff without the lines both versions share.
func Changes(d []DiffLine) []DiffLine {
	var out []DiffLine
	for _, l := range d {
		if l.Op != ' ' {
			out = append(out, l)
		}
	}
	return out
}

func lines(raw json.RawMessage) []string {
	if len(raw) == 0 {
		return nil
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return strings.Split(string(raw), "\n")
	}
	return strings.Split(buf.String(), "\n")
}

// HeartbeatTimeout is how long a register may stay silent before it is shown as unavailable: three
// missed heartbeats at the SDK's default interval.
const HeartbeatTimeout = 30 * time.Second

// Available reports whether a register last heard from at lastSeen counts as available at now.
func Available(lastSeen, now time.Time) bool {
	return !lastSeen.IsZero() && now.Sub(lastSeen) <= HeartbeatTimeout
}
