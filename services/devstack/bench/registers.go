package bench

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"kirjaamo.dev/adapters/demo"
	"kirjaamo.dev/adapters/sdk"
	"kirjaamo.dev/contracts"
)

// instantRegister answers every lookup at once with "no data held": the benchmark measures the
// platform, not a register's database.
type instantRegister struct{ decl contracts.Declaration }

func (r instantRegister) Declaration() contracts.Declaration { return r.decl }

func (instantRegister) Setup(context.Context) error { return nil }

func (instantRegister) Operations() sdk.Operations {
	return sdk.Operations{Lookup: func(context.Context, sdk.Query) ([]contracts.Record, error) { return nil, nil }}
}

// instantRegisters makes m registers, each declared like the Kanta processing log (identified by the
// personal identity code, lookup only), so that every access request is dispatched to all of them.
func instantRegisters(m int) (func(*pgxpool.Pool) []demo.Register, error) {
	base, err := demo.Declaration("kanta-processing-log")
	if err != nil {
		return nil, err
	}
	return func(*pgxpool.Pool) []demo.Register {
		regs := make([]demo.Register, m)
		for i := range regs {
			d := base
			d.RegisterID = fmt.Sprintf("bench-register-%03d", i)
			d.Name = contracts.Text{FI: d.RegisterID, SV: d.RegisterID, EN: d.RegisterID}
			regs[i] = instantRegister{decl: d}
		}
		return regs
	}, nil
}
