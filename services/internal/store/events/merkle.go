package events

import (
	"bytes"
	"crypto/sha256"
	"math/bits"
)

// A block's events are the leaves of a Merkle tree built as Certificate Transparency builds its
// logs' trees (RFC 6962, section 2.1): a leaf's hash is SHA-256 of 0x00 and the leaf, a node's is
// SHA-256 of 0x01, its left and its right child, and a tree of n leaves splits at the largest power of
// two below n. An event's leaf is its nonce followed by the event in canonical form
// (docs/processing-proof.md): the nonce keeps a leaf hash from being confirmed by guessing the event.

// LeafHash is the hash of a leaf.
func LeafHash(leaf []byte) []byte {
	h := sha256.New()
	h.Write([]byte{0})
	h.Write(leaf)
	return h.Sum(nil)
}

func nodeHash(left, right []byte) []byte {
	h := sha256.New()
	h.Write([]byte{1})
	h.Write(left)
	h.Write(right)
	return h.Sum(nil)
}

// split is the largest power of two smaller than n (n > 1).
func split(n int) int { return 1 << (bits.Len(uint(n-1)) - 1) }

// Root is the tree's hash over the leaves' hashes (RFC 6962, MTH).
func Root(leaves [][]byte) []byte {
	switch n := len(leaves); n {
	case 0:
		sum := sha256.Sum256(nil)
		return sum[:]
	case 1:
		return leaves[0]
	default:
		k := split(n)
		return nodeHash(Root(leaves[:k]), Root(leaves[k:]))
	}
}

// Path is the audit path of leaf m among the leaves' hashes (RFC 6962, PATH): the sibling hashes
// from the leaf up to the root.
func Path(leaves [][]byte, m int) [][]byte {
	n := len(leaves)
	if n <= 1 {
		return nil
	}
	k := split(n)
	if m < k {
		return append(Path(leaves[:k], m), Root(leaves[k:]))
	}
	return append(Path(leaves[k:], m-k), Root(leaves[:k]))
}

// RootFromPath is the root that a leaf's hash at position m of n leaves and its audit path make; an
// event is in a block if this is the block's root. It is what a person computes to check an event
// (docs/processing-proof.md), written out step by step.
func RootFromPath(leaf []byte, m, n int, path [][]byte) ([]byte, bool) {
	if m < 0 || m >= n {
		return nil, false
	}
	// Walk down from the root to find, at each level, whether the leaf is in the left or the right
	// subtree; then hash up along the path in the reverse order.
	var rightOf []bool
	for lo, hi := 0, n; hi-lo > 1; {
		k := split(hi - lo)
		if m-lo < k {
			hi = lo + k
			rightOf = append(rightOf, false)
		} else {
			lo += k
			rightOf = append(rightOf, true)
		}
	}
	if len(rightOf) != len(path) {
		return nil, false
	}
	h := leaf
	for i, sibling := range path {
		if rightOf[len(rightOf)-1-i] {
			h = nodeHash(sibling, h)
		} else {
			h = nodeHash(h, sibling)
		}
	}
	return h, true
}

// InTree reports whether a leaf's hash at position m of n leaves, with its audit path, makes root.
func InTree(leaf []byte, m, n int, path [][]byte, root []byte) bool {
	got, ok := RootFromPath(leaf, m, n, path)
	return ok && bytes.Equal(got, root)
}
