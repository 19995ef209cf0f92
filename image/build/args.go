package build

import (
	"fmt"
	"sort"
	"strings"
)

// builtinArgs are the predefined proxy args: usable without an ARG line
// and kept out of the cache key and history unless the Dockerfile
// declares them (dockerd's rule, so proxies do not bust the cache).
var builtinArgs = map[string]bool{
	"HTTP_PROXY": true, "http_proxy": true, "HTTPS_PROXY": true, "https_proxy": true,
	"FTP_PROXY": true, "ftp_proxy": true, "NO_PROXY": true, "no_proxy": true,
	"ALL_PROXY": true, "all_proxy": true,
}

// buildArgs tracks the ARGs of a build as dockerd's BuildArgs does.
type buildArgs struct {
	// fromOptions are --build-arg values (nil: take it from the
	// environment of the client, which the CLI has already resolved).
	fromOptions map[string]*string
	// meta are the ARGs before the first FROM.
	meta map[string]*string
	// allowed are the ARGs declared in the current stage.
	allowed map[string]*string
	// referenced are all ARG names declared anywhere (for the unused
	// warning and for builtins that become part of the cache key).
	referenced map[string]bool
}

func newBuildArgs(opts map[string]*string) *buildArgs {
	return &buildArgs{fromOptions: opts, meta: map[string]*string{}, allowed: map[string]*string{}, referenced: map[string]bool{}}
}

// forStage is a copy with no allowed args: a stage sees only what it
// declares (and meta values through ARG lines without a default).
func (b *buildArgs) forStage() *buildArgs {
	return &buildArgs{fromOptions: b.fromOptions, meta: b.meta, allowed: map[string]*string{}, referenced: b.referenced}
}

func (b *buildArgs) addArg(key string, v *string) {
	b.allowed[key] = v
	b.referenced[key] = true
}

func (b *buildArgs) addMeta(key string, v *string) {
	b.meta[key] = v
}

func (b *buildArgs) get(key string, mapping map[string]*string) (string, bool) {
	def, exists := mapping[key]
	if v, ok := b.fromOptions[key]; ok && v != nil {
		return *v, true
	}
	if def == nil {
		if v, ok := b.meta[key]; ok && v != nil {
			return *v, true
		}
		return "", false
	}
	return *def, exists
}

func (b *buildArgs) allFrom(mapping map[string]*string) map[string]string {
	m := map[string]string{}
	keys := map[string]bool{}
	for k := range mapping {
		keys[k] = true
	}
	for k := range builtinArgs {
		keys[k] = true
	}
	for k := range keys {
		if _, declared := mapping[k]; !declared && !builtinArgs[k] {
			continue
		}
		if builtinArgs[k] {
			if _, declared := mapping[k]; !declared {
				if v, ok := b.fromOptions[k]; ok && v != nil {
					m[k] = *v
				}
				continue
			}
		}
		if v, ok := b.get(k, mapping); ok {
			m[k] = v
		}
	}
	return m
}

// allowedValues are the values of the args the stage may use.
func (b *buildArgs) allowedValues() map[string]string { return b.allFrom(b.allowed) }

// metaValues are the values FROM lines are expanded with.
func (b *buildArgs) metaValues() map[string]string { return b.allFrom(b.meta) }

// filterAllowed is the build-time environment of a RUN: allowed args not
// overridden by the config's Env, as KEY=value, sorted.
func (b *buildArgs) filterAllowed(env []string) []string {
	inEnv := map[string]bool{}
	for _, e := range env {
		k, _, _ := strings.Cut(e, "=")
		inEnv[k] = true
	}
	var out []string
	for k, v := range b.allowedValues() {
		if !inEnv[k] {
			out = append(out, k+"="+v)
		}
	}
	sort.Strings(out)
	return out
}

func (b *buildArgs) unreferencedBuiltin(key string) bool {
	_, declared := b.allowed[key]
	return builtinArgs[key] && !declared
}

// unused lists --build-arg names no ARG line declared.
func (b *buildArgs) unused() []string {
	var out []string
	for k := range b.fromOptions {
		if !b.referenced[k] && !builtinArgs[k] {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// prependEnvOnCmd is the RUN command as the cache key and history see it
// when build args are in effect: "|N K=v … cmd" (dockerd's format, so the
// number of args and their values are part of the key).
func (b *buildArgs) prependEnvOnCmd(buildEnv []string, cmd []string) []string {
	var kept []string
	for _, e := range buildEnv {
		k, _, _ := strings.Cut(e, "=")
		if !b.unreferencedBuiltin(k) {
			kept = append(kept, e)
		}
	}
	sort.Strings(kept)
	out := append([]string{fmt.Sprintf("|%d", len(kept))}, kept...)
	return append(out, cmd...)
}

// envGetter adapts a KEY=value list to the shell lexer.
type envGetter struct {
	m    map[string]string
	keys []string
}

func newEnvGetter(env []string) *envGetter {
	g := &envGetter{m: map[string]string{}}
	for _, e := range env {
		k, v, _ := strings.Cut(e, "=")
		if _, ok := g.m[k]; !ok {
			g.keys = append(g.keys, k)
		}
		g.m[k] = v
	}
	return g
}

func (g *envGetter) Get(k string) (string, bool) { v, ok := g.m[k]; return v, ok }
func (g *envGetter) Keys() []string              { return g.keys }

func mapToEnv(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}
