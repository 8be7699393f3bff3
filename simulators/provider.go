package simulators

import (
	"bufio"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"
)

// DebtFile describes a provider debt list (provider-exchange.md §1) to generate.
type DebtFile struct {
	Provider         string
	FileID           string    // default PROVIDER-YYYYMMDD-SIM
	Created          time.Time // default now
	RegistersThrough time.Time // default the day before Created
	Mode             string    // full or delta (default delta: closes no other account)
	First            uint64    // first account number (default 9000000001)
	Accounts         int
	Services         []string // service codes (default by provider; must be registered)
	Periods          int      // periods of debt per service, ending the month before Created (default 1)
	// Each debt is Amount minor units when Amount > 0, else random in [100, 5000].
	Amount int64
	Seed   uint64
}

// DefaultServices are the service codes of the well-known demo providers.
func DefaultServices(provider string) []string {
	switch provider {
	case "AZERISIQ":
		return []string{"ELEC", "GARBAGE"}
	case "AZERIGAZ":
		return []string{"GAS"}
	case "AZERSU":
		return []string{"WATER", "SEWAGE"}
	case "BAKTELECOM":
		return []string{"PHONE", "INTERNET"}
	}
	return []string{"SVC1"}
}

var (
	simFirst = []string{"Əli", "Vəli", "Şəhla", "Gülnarə", "Çingiz", "Ülvi", "Aygün", "Rəşid", "Nərgiz", "Ömər"}
	simLast  = []string{"Əliyev", "Məmmədov", "Hüseynov", "Qasımov", "Şükürov", "Bağırov", "İsmayılov", "Quliyev"}
	simCity  = []string{"Bakı", "Gəncə", "Sumqayıt", "Şəki", "Quba", "Lənkəran"}
)

// WriteDebtFile streams the debt list to w: memory does not grow with Accounts.
// Account i is the same whatever Accounts says; the same Seed gives the same bytes.
func WriteDebtFile(w io.Writer, f DebtFile) error {
	if f.Provider == "" || f.Accounts < 0 {
		return fmt.Errorf("debt file: provider and a number of accounts ≥ 0 are required")
	}
	if f.Created.IsZero() {
		f.Created = time.Now()
	}
	if f.RegistersThrough.IsZero() {
		f.RegistersThrough = f.Created.AddDate(0, 0, -1)
	}
	if f.Mode == "" {
		f.Mode = "delta"
	}
	if f.Mode != "delta" && f.Mode != "full" {
		return fmt.Errorf("debt file: mode %q is not full or delta", f.Mode)
	}
	if f.FileID == "" {
		f.FileID = fmt.Sprintf("%s-%s-SIM%d", f.Provider, f.Created.Format("20060102"), f.Created.Unix()%100000)
	}
	if f.First == 0 {
		f.First = 9000000001
	}
	if len(f.Services) == 0 {
		f.Services = DefaultServices(f.Provider)
	}
	if f.Periods <= 0 {
		f.Periods = 1
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	fmt.Fprintf(bw, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<debts xmlns=\"urn:billpay:debts:1\" provider=%s file-id=%s created=%s registers-through=%s mode=%s>\n",
		xq(f.Provider), xq(f.FileID), xq(f.Created.Format(time.RFC3339)), xq(f.RegistersThrough.Format(time.DateOnly)), xq(f.Mode))
	firstOfMonth := time.Date(f.Created.Year(), f.Created.Month(), 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < f.Accounts; i++ {
		r := rand.New(rand.NewPCG(f.Seed, uint64(i)))
		num := f.First + uint64(i)
		name := pickS(r, simLast) + " " + pickS(r, simFirst)
		fmt.Fprintf(bw, "  <account number=\"%010d\" name=%s address=%s>\n", num, xq(name), xq(fmt.Sprintf("%s, küç. %d", pickS(r, simCity), 1+r.IntN(120))))
		for _, svc := range f.Services {
			for p := f.Periods; p >= 1; p-- {
				amt := f.Amount
				if amt <= 0 {
					amt = 100 + r.Int64N(4901)
				}
				period := firstOfMonth.AddDate(0, -p, 0).Format("200601")
				fmt.Fprintf(bw, "    <debt service=%s period=\"%s\" amount=\"%s\"/>\n", xq(svc), period, FormatMinor(amt))
			}
		}
		bw.WriteString("  </account>\n")
	}
	bw.WriteString("</debts>\n")
	return bw.Flush()
}

func pickS(r *rand.Rand, s []string) string { return s[r.IntN(len(s))] }

func xq(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	_ = xml.EscapeText(&b, []byte(s))
	b.WriteByte('"')
	return b.String()
}

// NoticeReceiver is the provider's end of payment notices (provider-exchange.md §3):
// an HTTP endpoint the host posts notices to. The notice format is the host's; the
// receiver takes a JSON object or an array of objects, names each by the first of its
// fields "id", "notice_id", "seq", "receipt" that is present, acknowledges with 200
// and {"acknowledged":N}, and counts duplicates (at-least-once delivery shows as
// duplicates, never as losses). With FailRate it answers 503 to that share of posts
// without taking them, so the host must send them again. GET /stats reports the counts.
type NoticeReceiver struct {
	FailRate float64
	Seed     uint64

	mu      sync.Mutex
	rng     *rand.Rand
	seen    map[string]int
	order   []string
	posts   int64
	refused int64
	notices int64
	dups    int64
	last    []json.RawMessage
	unnamed int64
}

// NoticeStats are a receiver's counts.
type NoticeStats struct {
	Posts      int64 `json:"posts"`
	Refused    int64 `json:"refused"`    // answered 503 on purpose
	Notices    int64 `json:"notices"`    // notices taken, duplicates included
	Unique     int64 `json:"unique"`     // distinct notice names
	Duplicates int64 `json:"duplicates"` // notices seen before
	Unnamed    int64 `json:"unnamed"`    // notices without a name field
}

// Stats returns the counts.
func (n *NoticeReceiver) Stats() NoticeStats {
	n.mu.Lock()
	defer n.mu.Unlock()
	return NoticeStats{Posts: n.posts, Refused: n.refused, Notices: n.notices, Unique: int64(len(n.seen)), Duplicates: n.dups, Unnamed: n.unnamed}
}

// Names returns the distinct notice names in the order first seen.
func (n *NoticeReceiver) Names() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.order...)
}

// ServeHTTP takes notices (POST) and reports counts (GET /stats).
func (n *NoticeReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/stats") {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(n.Stats())
		return
	}
	if r.Method != http.MethodPost {
		http.Error(w, "POST notices here", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
	if err != nil {
		http.Error(w, "read error", http.StatusBadRequest)
		return
	}
	var items []json.RawMessage
	trim := strings.TrimSpace(string(body))
	if strings.HasPrefix(trim, "[") {
		err = json.Unmarshal(body, &items)
	} else {
		items = []json.RawMessage{json.RawMessage(body)}
		var probe map[string]any
		err = json.Unmarshal(body, &probe)
	}
	if err != nil {
		http.Error(w, "body is not a JSON object or array: "+err.Error(), http.StatusBadRequest)
		return
	}
	n.mu.Lock()
	if n.rng == nil {
		n.rng = rand.New(rand.NewPCG(n.Seed, 3))
		n.seen = map[string]int{}
	}
	n.posts++
	if n.FailRate > 0 && n.rng.Float64() < n.FailRate {
		n.refused++
		n.mu.Unlock()
		http.Error(w, "provider busy (simulated)", http.StatusServiceUnavailable)
		return
	}
	for _, it := range items {
		n.notices++
		name := noticeName(it)
		if name == "" {
			n.unnamed++
			continue
		}
		if n.seen[name]++; n.seen[name] > 1 {
			n.dups++
		} else {
			n.order = append(n.order, name)
		}
	}
	n.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, "{\"acknowledged\":%d}\n", len(items))
}

func noticeName(raw json.RawMessage) string {
	var m map[string]any
	if json.Unmarshal(raw, &m) != nil {
		return ""
	}
	keys := []string{"id", "notice_id", "seq", "receipt"}
	for _, k := range keys {
		if v, ok := m[k]; ok && v != nil {
			return fmt.Sprint(v)
		}
	}
	return ""
}
