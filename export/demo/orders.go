package demo

import (
	"math"
	"math/rand/v2"
	"strings"
	"time"
)

// The span created_at covers: ids are spread evenly over it, so created_at
// grows with id.
var (
	spanStart = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	spanEnd   = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
)

// Statuses an order can have.
var statuses = []string{"pending", "paid", "shipped", "delivered", "cancelled", "refunded"}

// order is one generated row. Optional columns have a has* flag rather than
// a pointer, so that generating a row allocates nothing.
type order struct {
	id           int64
	name         string
	email        string
	hasEmail     bool
	country      string
	status       string
	amount       float64
	quantity     int64
	gift         bool
	createdAt    time.Time
	shippedOn    time.Time
	hasShippedOn bool
	note         string
	hasNote      bool
}

type person struct{ name, ascii string }

var firstNames = []person{
	{"Émilie", "emilie"}, {"José", "jose"}, {"Zoë", "zoe"}, {"François", "francois"},
	{"Søren", "soren"}, {"Łukasz", "lukasz"}, {"Björn", "bjorn"}, {"Ana", "ana"},
	{"John", "john"}, {"Mary", "mary"}, {"Mohammed", "mohammed"}, {"Aiko", "aiko"},
	{"Chloé", "chloe"}, {"Noah", "noah"}, {"Olivia", "olivia"}, {"Liam", "liam"},
	{"Siobhán", "siobhan"}, {"Jürgen", "jurgen"}, {"Priya", "priya"}, {"Mateo", "mateo"},
}

var lastNames = []person{
	{"Müller", "muller"}, {"García", "garcia"}, {"O'Brien", "obrien"}, {"Nguyễn", "nguyen"},
	{"Smith", "smith"}, {"Dubois", "dubois"}, {"Kowalski", "kowalski"}, {"Rossi", "rossi"},
	{"Silva", "silva"}, {"Andersson", "andersson"}, {"Johnson", "johnson"}, {"Lefèvre", "lefevre"},
	{"Petrović", "petrovic"}, {"Yılmaz", "yilmaz"}, {"Brown", "brown"}, {"da Costa", "dacosta"},
}

// Full names written family name first, without a space, as they are in
// Chinese and Korean.
var cjkNames = []person{
	{"王芳", "wang.fang"}, {"李伟", "li.wei"}, {"张敏", "zhang.min"}, {"김민준", "kim.minjun"},
	{"이서연", "lee.seoyeon"}, {"田中太郎", "tanaka.taro"}, {"佐藤花子", "sato.hanako"},
}

var emailDomains = []string{"example.com", "example.org", "mail.example.net"}

var countries = []string{
	"US", "US", "US", "FR", "FR", "DE", "DE", "GB", "GB", "JP", "BR", "CN", "IN", "ES",
	"IT", "CA", "KR", "SE", "PL", "VN", "MX", "AU", "NL", "CH",
}

// Notes include what breaks naive CSV writers and readers: commas, double
// quotes, CR LF and LF inside a value, leading and trailing spaces, tabs,
// backslashes, the empty string (which is not NULL), non-Latin scripts.
var notes = []string{
	"Please leave at the front door",
	"Gift wrap, please, with a card",
	`Customer said "urgent" twice`,
	"Line one\r\nLine two",
	"first line\nsecond line\nthird line",
	"   leading spaces",
	"trailing space ",
	"Ring twice; the dog is friendly 🐕",
	"Fragile — handle with care",
	`"Quoted, with a comma"`,
	"Tab\tseparated",
	`Backslash \ in C:\orders\`,
	"配達前に電話してください",
	"",
	"Call before delivery: +33 1 23 45 67 89",
	"Deliver between 9:00 and 17:00",
}

// generator makes the rows of one dataset; the same seed and row count give
// the same rows on every database. Each row is drawn from a random source
// seeded with (seed, id), so rows can be made in any order, by several
// goroutines (see clone).
type generator struct {
	seed   uint64
	pcg    *rand.PCG
	rng    *rand.Rand
	rows   int64
	names  []string
	emails [][]string // per name, one address per domain
	start  int64      // Unix seconds
	span   int64      // seconds
}

func newGenerator(seed, rows int64) *generator {
	g := &generator{
		seed:  uint64(seed),
		rows:  rows,
		start: spanStart.Unix(),
		span:  spanEnd.Unix() - spanStart.Unix(),
	}
	// Names and addresses are combined once, so that rows share strings.
	add := func(name, ascii string) {
		g.names = append(g.names, name)
		var es []string
		for _, d := range emailDomains {
			es = append(es, ascii+"@"+d)
		}
		g.emails = append(g.emails, es)
	}
	for _, f := range firstNames {
		for _, l := range lastNames {
			add(f.name+" "+l.name, f.ascii+"."+l.ascii)
		}
	}
	for _, p := range cjkNames {
		add(p.name, p.ascii)
	}
	// Some names carry an emoji, as people put in display names.
	for i, p := range []string{"🎉", "🌸", "⭐"} {
		add(firstNames[i].name+" "+lastNames[i].name+" "+p, firstNames[i].ascii+"."+lastNames[i].ascii)
	}
	g.pcg = rand.NewPCG(0, 0)
	g.rng = rand.New(g.pcg)
	return g
}

// clone is a generator of the same rows for another goroutine.
func (g *generator) clone() *generator {
	c := *g
	c.pcg = rand.NewPCG(0, 0)
	c.rng = rand.New(c.pcg)
	return &c
}

// next fills o with row id (from 1).
func (g *generator) next(o *order, id int64) {
	g.pcg.Seed(g.seed, splitmix(uint64(id)))
	r := g.rng
	o.id = id
	n := r.IntN(len(g.names) - len(cjkNames) - 3)
	switch x := r.IntN(100); {
	case x < 6: // a CJK name
		n = len(g.names) - len(cjkNames) - 3 + r.IntN(len(cjkNames))
	case x < 8: // a name with an emoji
		n = len(g.names) - 3 + r.IntN(3)
	}
	o.name = g.names[n]
	o.hasEmail = r.IntN(100) >= 8
	if o.hasEmail {
		o.email = g.emails[n][r.IntN(len(emailDomains))]
	}
	o.country = countries[r.IntN(len(countries))]

	switch x := r.IntN(100); {
	case x < 8:
		o.status = statuses[0]
	case x < 20:
		o.status = statuses[1]
	case x < 35:
		o.status = statuses[2]
	case x < 90:
		o.status = statuses[3]
	case x < 96:
		o.status = statuses[4]
	default:
		o.status = statuses[5]
	}

	o.quantity = 1 + r.Int64N(5)
	if r.IntN(20) == 0 {
		o.quantity = 5 + r.Int64N(46) // the occasional bulk order
	}
	unit := 2 + r.Float64()*248
	o.amount = math.Round(unit*float64(o.quantity)*100) / 100
	o.gift = r.IntN(100) < 12

	// Evenly spread with jitter below one step, so created_at never
	// decreases as id grows.
	step := g.span / max(g.rows, 1)
	sec := g.start + (id-1)*g.span/max(g.rows, 1)
	if step > 1 {
		sec += r.Int64N(step)
	}
	o.createdAt = time.Unix(sec, 0).UTC()

	o.hasShippedOn = o.status == "shipped" || o.status == "delivered"
	if o.hasShippedOn {
		y, m, d := o.createdAt.Date()
		o.shippedOn = time.Date(y, m, d+1+r.IntN(7), 0, 0, 0, 0, time.UTC)
	}

	o.hasNote = r.IntN(100) < 30
	if o.hasNote {
		o.note = notes[r.IntN(len(notes))]
	}
}

// Columns of the orders table, in order.
var columnNames = []string{
	"id", "customer_name", "customer_email", "country", "status", "amount",
	"quantity", "is_gift", "created_at", "shipped_on", "note",
}

// columnList is the columns joined for INSERT statements.
var columnList = strings.Join(columnNames, ", ")

// splitmix scrambles x (SplitMix64's finalizer), so that neighbouring ids
// seed unrelated streams.
func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}
