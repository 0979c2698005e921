package events

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"testing"
)

func leavesOf(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = LeafHash(fmt.Appendf(nil, "leaf %d", i))
	}
	return out
}

// TestTheTreeIsRFC6962s checks the root against the test vector that Certificate Transparency's
// implementations share: the tree of eight leaves with the data 0x, 0x00, 0x10, 0x2021, 0x3031,
// 0x40414243, 0x5051525354555657, 0x606162636465666768696a6b6c6d6e6f.
func TestTheTreeIsRFC6962s(t *testing.T) {
	var leaves [][]byte
	for _, s := range []string{"", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"} {
		data, _ := hex.DecodeString(s)
		leaves = append(leaves, LeafHash(data))
	}
	for n, want := range map[int]string{
		1: "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
		2: "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
		3: "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
		8: "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
	} {
		if got := hex.EncodeToString(Root(leaves[:n])); got != want {
			t.Errorf("the root of %d leaves is %s, want %s", n, got, want)
		}
	}
	if got, want := Root(nil), sha256.Sum256(nil); !bytes.Equal(got, want[:]) {
		t.Error("the empty tree's root is not the hash of nothing")
	}
}

func TestEveryLeafsPathLeadsToTheRootAndNoOtherLeafs(t *testing.T) {
	for n := 1; n <= 70; n++ {
		leaves := leavesOf(n)
		root := Root(leaves)
		for m := range n {
			path := Path(leaves, m)
			if !InTree(leaves[m], m, n, path, root) {
				t.Fatalf("leaf %d of %d: its path does not lead to the root", m, n)
			}
			if n > 1 && InTree(leaves[(m+1)%n], m, n, path, root) {
				t.Fatalf("leaf %d of %d: another leaf's hash passes with its path", m, n)
			}
			if n > 1 && InTree(leaves[m], (m+1)%n, n, path, root) {
				t.Fatalf("leaf %d of %d: the path passes at another position", m, n)
			}
		}
	}
}
