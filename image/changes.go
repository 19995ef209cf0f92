package image

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/moby/buildkit/frontend/dockerfile/shell"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"

	"github.com/berthd/berth/pkg/errdefs"
)

// ApplyChanges applies Dockerfile instructions given with `docker import
// --change` (and `docker commit --change`) to c. Only the instructions
// that change the config are valid, as in dockerd.
func ApplyChanges(c *dockerspec.DockerOCIImageConfig, changes []string) error {
	for _, raw := range changes {
		// The CLI may send several instructions in one value, one a line.
		for _, line := range strings.Split(raw, "\n") {
			line = strings.TrimSpace(line)
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			if err := applyChange(c, line); err != nil {
				return err
			}
		}
	}
	return nil
}

func applyChange(c *dockerspec.DockerOCIImageConfig, line string) error {
	word, rest, _ := strings.Cut(line, " ")
	if i := strings.IndexAny(word, "\t"); i >= 0 {
		word, rest = word[:i], word[i+1:]+" "+rest
	}
	rest = strings.TrimSpace(rest)
	cmd := strings.ToLower(word)
	switch cmd {
	case "cmd":
		c.Cmd = cmdForm(rest)
	case "entrypoint":
		c.Entrypoint = cmdForm(rest)
	case "env":
		kvs, err := envKeyValues(rest, c.Env)
		if err != nil {
			return err
		}
		for _, kv := range kvs {
			c.Env = setEnv(c.Env, kv[0], kv[1])
		}
	case "label":
		kvs, err := keyValues(rest, "LABEL")
		if err != nil {
			return err
		}
		if c.Labels == nil {
			c.Labels = map[string]string{}
		}
		for _, kv := range kvs {
			c.Labels[kv[0]] = kv[1]
		}
	case "expose":
		if c.ExposedPorts == nil {
			c.ExposedPorts = map[string]struct{}{}
		}
		for _, p := range strings.Fields(rest) {
			if !strings.Contains(p, "/") {
				p += "/tcp"
			}
			c.ExposedPorts[p] = struct{}{}
		}
	case "volume":
		if c.Volumes == nil {
			c.Volumes = map[string]struct{}{}
		}
		var vols []string
		if err := json.Unmarshal([]byte(rest), &vols); err != nil {
			vols = strings.Fields(rest)
		}
		for _, v := range vols {
			if v == "" {
				return errdefs.InvalidParameterf("VOLUME specified can not be an empty string")
			}
			c.Volumes[v] = struct{}{}
		}
	case "user":
		c.User = rest
	case "workdir":
		c.WorkingDir = rest
	case "stopsignal":
		c.StopSignal = rest
	case "onbuild":
		if rest == "" {
			return errdefs.InvalidParameterf("ONBUILD requires at least one argument")
		}
		c.OnBuild = append(c.OnBuild, rest)
	case "shell":
		var sh []string
		if err := json.Unmarshal([]byte(rest), &sh); err != nil {
			return errdefs.InvalidParameterf("SHELL requires the arguments to be in JSON form")
		}
		c.Shell = sh
	case "healthcheck":
		hc, err := healthcheck(rest)
		if err != nil {
			return err
		}
		c.Healthcheck = hc
	default:
		return errdefs.InvalidParameterf("%s is not a valid change command", word)
	}
	if cmd != "" && rest == "" && cmd != "cmd" && cmd != "entrypoint" {
		return errdefs.InvalidParameterf("%s requires at least one argument", strings.ToUpper(cmd))
	}
	return nil
}

// cmdForm reads the exec (JSON) form or the shell form of CMD/ENTRYPOINT.
func cmdForm(s string) []string {
	var v []string
	if strings.HasPrefix(s, "[") && json.Unmarshal([]byte(s), &v) == nil {
		return v
	}
	if s == "" {
		return nil
	}
	return []string{"/bin/sh", "-c", s}
}

func setEnv(env []string, k, v string) []string {
	for i, e := range env {
		if name, _, _ := strings.Cut(e, "="); name == k {
			env[i] = k + "=" + v
			return env
		}
	}
	return append(env, k+"="+v)
}

// words splits on blanks outside quotes, removing quotes and backslash
// escapes.
func words(s string) ([]string, error) {
	var out []string
	var cur strings.Builder
	in := false
	var quote rune
	for i := 0; i < len(s); i++ {
		ch := rune(s[i])
		switch {
		case quote != 0:
			if ch == quote {
				quote = 0
			} else if ch == '\\' && quote == '"' && i+1 < len(s) {
				i++
				cur.WriteByte(s[i])
			} else {
				cur.WriteRune(ch)
			}
		case ch == '"' || ch == '\'':
			quote, in = ch, true
		case ch == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
			in = true
		case ch == ' ' || ch == '\t':
			if in {
				out = append(out, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteRune(ch)
			in = true
		}
	}
	if quote != 0 {
		return nil, errdefs.InvalidParameterf("unmatched quote in %q", s)
	}
	if in {
		out = append(out, cur.String())
	}
	return out, nil
}

// keyValues reads "k=v k2=v2" or the legacy "k v" form of ENV and LABEL.
func keyValues(s, inst string) ([][2]string, error) {
	ws, err := words(s)
	if err != nil {
		return nil, err
	}
	if len(ws) == 0 {
		return nil, errdefs.InvalidParameterf("%s requires at least one argument", inst)
	}
	if !strings.Contains(ws[0], "=") {
		k, v, _ := strings.Cut(strings.TrimSpace(s), " ")
		if len(ws) < 2 {
			return nil, errdefs.InvalidParameterf("%s must have two arguments", inst)
		}
		return [][2]string{{k, strings.TrimSpace(v)}}, nil
	}
	return pairs(ws)
}

// pairs splits "k=v" words, as the Dockerfile parser does.
func pairs(ws []string) ([][2]string, error) {
	var out [][2]string
	for _, w := range ws {
		k, v, ok := strings.Cut(w, "=")
		if !ok || k == "" {
			return nil, errdefs.InvalidParameterf("Syntax error - can't find = in %q. Must be of the form: name=value", w)
		}
		out = append(out, [2]string{k, v})
	}
	return out, nil
}

// envKeyValues reads an ENV change with the variables of env expanded,
// as dockerd does ("ENV PATH=/usr/bin:$PATH"): quoting and escapes follow
// the Dockerfile's shell rules.
func envKeyValues(s string, env []string) ([][2]string, error) {
	lex := shell.NewLex('\\')
	getter := shell.EnvsFromSlice(env)
	ws, err := lex.ProcessWords(s, getter)
	if err != nil {
		return nil, errdefs.InvalidParameter(err)
	}
	if len(ws) == 0 {
		return nil, errdefs.InvalidParameterf("ENV requires at least one argument")
	}
	if !strings.Contains(ws[0], "=") {
		if len(ws) < 2 {
			return nil, errdefs.InvalidParameterf("ENV must have two arguments")
		}
		// The legacy "ENV key value..." form: the value is the rest.
		k, v, _ := strings.Cut(strings.TrimSpace(s), " ")
		v, _, err := lex.ProcessWord(strings.TrimSpace(v), getter)
		if err != nil {
			return nil, errdefs.InvalidParameter(err)
		}
		return [][2]string{{k, v}}, nil
	}
	return pairs(ws)
}

func healthcheck(s string) (*dockerspec.HealthcheckConfig, error) {
	if strings.EqualFold(strings.TrimSpace(s), "none") {
		return &dockerspec.HealthcheckConfig{Test: []string{"NONE"}}, nil
	}
	hc := &dockerspec.HealthcheckConfig{}
	for strings.HasPrefix(s, "--") {
		opt, rest, _ := strings.Cut(s, " ")
		s = strings.TrimSpace(rest)
		k, v, _ := strings.Cut(strings.TrimPrefix(opt, "--"), "=")
		var d time.Duration
		var err error
		if k != "retries" {
			if d, err = time.ParseDuration(v); err != nil {
				return nil, errdefs.InvalidParameterf("invalid HEALTHCHECK option %s: %v", opt, err)
			}
		}
		switch k {
		case "interval":
			hc.Interval = d
		case "timeout":
			hc.Timeout = d
		case "start-period":
			hc.StartPeriod = d
		case "start-interval":
			hc.StartInterval = d
		case "retries":
			if _, err := fmt.Sscanf(v, "%d", &hc.Retries); err != nil {
				return nil, errdefs.InvalidParameterf("invalid HEALTHCHECK option %s", opt)
			}
		default:
			return nil, errdefs.InvalidParameterf("unknown HEALTHCHECK option %s", opt)
		}
	}
	word, rest, _ := strings.Cut(s, " ")
	if !strings.EqualFold(word, "cmd") {
		return nil, errdefs.InvalidParameterf("HEALTHCHECK requires CMD or NONE")
	}
	rest = strings.TrimSpace(rest)
	var v []string
	if strings.HasPrefix(rest, "[") && json.Unmarshal([]byte(rest), &v) == nil {
		hc.Test = append([]string{"CMD"}, v...)
	} else {
		hc.Test = []string{"CMD-SHELL", rest}
	}
	return hc, nil
}
