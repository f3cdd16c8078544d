// Command render-direct renders the `payload:` of alertmanager-direct.yml with Alertmanager's own
// code (the version pinned in go.mod), for a sample notification, and prints the JSON body that
// Alertmanager would POST to GitHub's /dispatches. The output is committed as
// ../testdata/direct-rendered.json and fed to alert-to-issue by __tests__/alertmanager-config.test.ts,
// so the direct variant is checked against the real renderer without needing Alertmanager >= 0.32
// on the test machine (Debian ships 0.25). Built by scripts/setup into .tools/bin/render-direct; run: .tools/bin/render-direct platform/alertmanager/alertmanager-direct.yml
package main

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"time"

	"github.com/prometheus/alertmanager/config"
	"github.com/prometheus/alertmanager/notify"
	"github.com/prometheus/alertmanager/template"
	"github.com/prometheus/alertmanager/types"
	"github.com/prometheus/common/model"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: render-direct <alertmanager.yml>")
		os.Exit(2)
	}
	cfg, err := config.LoadFile(os.Args[1])
	if err != nil {
		fail(err)
	}
	hook := cfg.Receivers[0].WebhookConfigs[0]
	tmpl, err := template.FromGlobs(nil)
	if err != nil {
		fail(err)
	}
	tmpl.ExternalURL, _ = url.Parse("http://alertmanager.example:9093")

	start := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	alerts := []*types.Alert{
		{Alert: model.Alert{
			Labels: model.LabelSet{"alertname": "DataDrift", "model": "iris", "severity": "warning", "code": "500"},
			Annotations: model.LabelSet{
				// Text that would change type, be templated again or break YAML if sent raw.
				"summary":     "Feature drift > 0.3: {{ not a template }} @octocat #1",
				"description": "line one\nline two: [1, 2]\n- a list item",
				"replicas":    "3",
			},
			StartsAt:     start,
			GeneratorURL: "http://prometheus.example:9090/graph?g0.expr=drift+%3E+0.3",
		}},
		{Alert: model.Alert{
			Labels:      model.LabelSet{"alertname": "DataDrift", "model": "iris", "severity": "warning", "code": "200"},
			Annotations: model.LabelSet{"summary": "resolved one"},
			StartsAt:    start,
			EndsAt:      start.Add(30 * time.Minute),
		}},
	}
	data := tmpl.Data(cfg.Receivers[0].Name, model.LabelSet{"alertname": "DataDrift", "model": "iris"}, "", alerts...)
	var tmplErr error
	text := notify.TmplText(tmpl, data, &tmplErr)
	rendered, err := template.DeepCopyWithTemplate(hook.Payload, func(s string) (string, error) { return text(s), tmplErr })
	if err != nil {
		fail(err)
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(rendered); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}
