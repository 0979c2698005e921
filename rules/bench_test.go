package rules

import (
	"fmt"
	"testing"

	"kirjaamo.dev/contracts"
)

// BenchmarkEvaluateAll200 evaluates one request against 200 registers: the five demo registers, 40
// times over under different ids. The budget is 1 ms per op.
func BenchmarkEvaluateAll200(b *testing.B) {
	decls := make([]contracts.Declaration, 0, 200)
	for i := range 40 {
		for _, id := range demoIDs {
			d := loadDemo(b, id)
			d.RegisterID = fmt.Sprintf("%s-%d", id, i)
			decls = append(decls, d)
		}
	}
	req := request(contracts.RightAccess, func(r *Request) {
		r.Supplied = []contracts.IdentifierType{contracts.IdentifierPersonalIdentityCode, contracts.IdentifierEmail, contracts.IdentifierPhone}
		r.History = []PriorRequest{{Right: contracts.RightAccess, ReceivedAt: received.AddDate(0, -2, 0)}}
	})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := EvaluateAll(req, decls); err != nil {
			b.Fatal(err)
		}
	}
}
