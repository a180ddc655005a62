// loadgen sends the bodies of a file (one JSON document a line) as POST requests with C concurrent clients,
// each body once, and prints one JSON line: requests, seconds, requests per second, p50 and p99 latency (ms),
// and the number of responses that were not 200. It uses only the standard library.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type headerFlags []string

func (h *headerFlags) String() string     { return strings.Join(*h, ", ") }
func (h *headerFlags) Set(v string) error { *h = append(*h, v); return nil }

func main() {
	url := flag.String("url", "", "target URL")
	file := flag.String("bodies", "", "file with one request body a line")
	conc := flag.Int("c", 16, "concurrent clients")
	var headers headerFlags
	flag.Var(&headers, "H", "header 'Name: value' (repeatable)")
	flag.Parse()

	f, err := os.Open(*file)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var bodies [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		if len(sc.Bytes()) > 0 {
			bodies = append(bodies, append([]byte(nil), sc.Bytes()...))
		}
	}
	f.Close()

	client := &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: *conc, MaxConnsPerHost: *conc},
	}
	latencies := make([]float64, len(bodies))
	var next, bad int64 = -1, 0
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < *conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := atomic.AddInt64(&next, 1)
				if int(i) >= len(bodies) {
					return
				}
				req, _ := http.NewRequest("POST", *url, bytes.NewReader(bodies[i]))
				req.Header.Set("Content-Type", "application/json")
				for _, h := range headers {
					k, v, _ := strings.Cut(h, ":")
					req.Header.Set(strings.TrimSpace(k), strings.TrimSpace(v))
				}
				t0 := time.Now()
				resp, err := client.Do(req)
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				latencies[i] = float64(time.Since(t0).Microseconds()) / 1000
				if err != nil || resp.StatusCode != 200 {
					atomic.AddInt64(&bad, 1)
				}
			}
		}()
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	sort.Float64s(latencies)
	pct := func(p float64) float64 { return latencies[int(p*float64(len(latencies)-1))] }
	out, _ := json.Marshal(map[string]any{
		"requests": len(bodies), "seconds": secs, "rps": float64(len(bodies)) / secs,
		"p50_ms": pct(0.50), "p99_ms": pct(0.99), "not_ok": bad,
	})
	fmt.Println(string(out))
}
