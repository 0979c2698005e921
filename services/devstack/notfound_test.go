package devstack

import (
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"testing"
	"time"
)

// TestAStrangersRequestIsNotFoundAsFastAsNone: the portal asks whose a request is before it reads
// anything of it, so that a stranger's real request id and an id that exists nowhere take the same
// time to be not found, and timing does not tell that a request exists. The test compares the
// distributions of many calls of each, interleaved (a Mann-Whitney U test): they must not differ
// significantly. That it would see a difference where there is one, it shows on the person's own
// request, which is read whole.
func TestAStrangersRequestIsNotFoundAsFastAsNone(t *testing.T) {
	s := sharedStack(t)
	aino := idToken(t, s, "demo-aino")
	status, created := api(t, "POST", s.PortalURL+"/api/v1/requests", aino, "application/json", `{"right":"access","language":"en"}`)
	if status != http.StatusAccepted {
		t.Fatalf("submit: %d %v", status, created)
	}
	ainos := created["request_id"].(string)
	waitStatus(t, s, ainos, "in_review")
	const none = "0195d5c8-8d3e-7c1a-9f00-00000000e0e0"
	matti := idToken(t, s, "demo-matti")

	timed := func(token, id string, want int) time.Duration {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, s.PortalURL+"/api/v1/requests/"+id, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		began := time.Now()
		resp, err := http.DefaultClient.Do(req)
		took := time.Since(began)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("GET %s: %d, want %d", id, resp.StatusCode, want)
		}
		return took
	}
	for range 20 { // warm up connections and caches alike
		timed(matti, ainos, http.StatusNotFound)
		timed(matti, none, http.StatusNotFound)
	}
	// Each round makes the three calls in a random order, so that what one call leaves behind (a
	// request read whole is work the next one may wait on) falls on each kind alike.
	const n = 300
	var stranger, nowhere, own []time.Duration
	for range n {
		for _, kind := range rand.Perm(3) {
			switch kind {
			case 0:
				stranger = append(stranger, timed(matti, ainos, http.StatusNotFound))
			case 1:
				nowhere = append(nowhere, timed(matti, none, http.StatusNotFound))
			case 2:
				own = append(own, timed(aino, ainos, http.StatusOK))
			}
		}
	}
	z := mannWhitneyZ(stranger, nowhere)
	t.Logf("median %s for a stranger's request, %s for none, %s for one's own; z = %.2f (stranger against none), %.2f (own against none)",
		median(stranger), median(nowhere), median(own), z, mannWhitneyZ(own, nowhere))
	// |z| > 3.29 is p < 0.001, two-sided.
	if math.Abs(z) > 3.29 {
		t.Errorf("a stranger's request and none are told apart by the time their 404 takes: z = %.2f", z)
	}
	if zOwn := mannWhitneyZ(own, nowhere); zOwn < 3.29 {
		t.Errorf("the comparison cannot tell the person's own request, read whole, from none (z = %.2f): it would not see a leak either", zOwn)
	}
}

// mannWhitneyZ is the normal approximation of the Mann-Whitney U statistic of a against b: positive
// when a's values tend to be the larger.
func mannWhitneyZ(a, b []time.Duration) float64 {
	type obs struct {
		v     time.Duration
		fromA bool
	}
	all := make([]obs, 0, len(a)+len(b))
	for _, v := range a {
		all = append(all, obs{v, true})
	}
	for _, v := range b {
		all = append(all, obs{v, false})
	}
	slices.SortFunc(all, func(x, y obs) int { return int(x.v - y.v) })
	var rankA float64
	for i := 0; i < len(all); {
		j := i
		for j < len(all) && all[j].v == all[i].v {
			j++
		}
		rank := float64(i+j+1) / 2 // the average of ranks i+1 … j, for ties
		for k := i; k < j; k++ {
			if all[k].fromA {
				rankA += rank
			}
		}
		i = j
	}
	n1, n2 := float64(len(a)), float64(len(b))
	u := rankA - n1*(n1+1)/2
	return (u - n1*n2/2) / math.Sqrt(n1*n2*(n1+n2+1)/12)
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}
