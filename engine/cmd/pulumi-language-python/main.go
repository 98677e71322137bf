// Command pulumi-language-python is this project's Python language host for the Pulumi CLI.
//
// Why it exists: Pulumi's own host lives in the Go module
// github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3, which has no release tags, and the
// Go module proxy reachable here refuses it ("403 Forbidden: This module version is not available") for
// every version, pseudo-version and commit. Everything it builds on is served, though: the interpreter,
// virtualenv and pip/uv/poetry handling (github.com/pulumi/pulumi/sdk/v3/python/toolchain), the gRPC
// protocol (sdk/v3/proto/go), the policy-pack proxy (sdk/v3) and the `pulumi-language-python-exec` shim
// that actually runs a program (shipped in the sdk/v3 module; build.sh copies it next to this binary).
//
// This host implements what the engine needs to run Python programs and Python policy packs:
// Handshake, GetPluginInfo, GetRequiredPackages, Run, RunPlugin, InstallDependencies, About,
// GetProgramDependencies, RuntimeOptionsPrompts, Template and Cancel. Code generation (GenerateProgram,
// GenerateProject, GeneratePackage, Link, Pack: `pulumi convert`, `pulumi package add/gen-sdk`) and
// debugger attachment are not implemented and answer Unimplemented.
//
// Choosing the interpreter is left to sdk/v3/python/toolchain, exactly as in Pulumi's host: with
// `toolchain: pip` and no `virtualenv` it runs $PULUMI_PYTHON_CMD if set, else the first of `python3`,
// `python` on PATH; with `virtualenv: DIR` it runs DIR/bin/python.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	sdk "github.com/pulumi/pulumi/sdk/v3"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/cmdutil"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/logging"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	"github.com/pulumi/pulumi/sdk/v3/go/common/version"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"github.com/pulumi/pulumi/sdk/v3/python/toolchain"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/emptypb"
)

const (
	execShim = "pulumi-language-python-exec"
	// Exit code with which the exec shim says it already showed the user an actionable error.
	exitAfterUserMessage = 32
)

func main() {
	showVersion := flag.Bool("version", false, "print the plugin version and exit")
	tracingEndpoint := flag.String("tracing", "", "Zipkin-compatible tracing endpoint, passed on to the program")
	executor := flag.String("use-executor", "", "run this script instead of the "+execShim+" next to this binary")
	flag.Parse()

	if *showVersion {
		fmt.Println(version.Version)
		return
	}
	logging.InitLogging(false, 0, false)

	shim := *executor
	if shim == "" {
		self, err := os.Executable()
		if err != nil {
			cmdutil.Exit(fmt.Errorf("locating this executable: %w", err))
		}
		shim = filepath.Join(filepath.Dir(self), execShim)
		if _, err := os.Stat(shim); err != nil {
			cmdutil.Exit(fmt.Errorf("missing executor %s: %w", shim, err))
		}
	}

	host := &pythonHost{shim: shim, tracing: *tracingEndpoint}
	host.cancelCtx, host.cancel = context.WithCancel(context.Background())
	if args := flag.Args(); len(args) > 0 {
		host.engineAddress = args[0]
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	stopServing := make(chan bool)
	go func() {
		<-ctx.Done()
		stop()
		close(stopServing)
	}()
	if host.engineAddress != "" {
		if err := rpcutil.Healthcheck(ctx, host.engineAddress, 5*time.Minute, stop); err != nil {
			cmdutil.Exit(fmt.Errorf("starting engine health check: %w", err))
		}
	}

	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Cancel: stopServing,
		Init: func(srv *grpc.Server) error {
			pulumirpc.RegisterLanguageRuntimeServer(srv, host)
			return nil
		},
		Options: rpcutil.TracingServerInterceptorOptions(nil),
	})
	if err != nil {
		cmdutil.Exit(fmt.Errorf("starting language host gRPC server: %w", err))
	}
	// The engine reads the port from our first line of stdout.
	fmt.Printf("%d\n", handle.Port)
	if err := <-handle.Done; err != nil {
		cmdutil.Exit(fmt.Errorf("language host stopped serving: %w", err))
	}
}

type pythonHost struct {
	pulumirpc.UnimplementedLanguageRuntimeServer

	shim          string
	tracing       string
	engineAddress string
	cancelCtx     context.Context // done once the engine calls Cancel
	cancel        context.CancelFunc
}

// pythonOptions reads Pulumi.yaml's `runtime.options` (virtualenv, toolchain, typechecker).
func pythonOptions(info *pulumirpc.ProgramInfo, isPlugin bool) (toolchain.PythonOptions, error) {
	opts := toolchain.PythonOptions{Root: info.GetRootDirectory(), ProgramDir: info.GetProgramDirectory()}
	raw := info.GetOptions().AsMap()
	str := func(key string) (string, error) {
		v, ok := raw[key]
		if !ok {
			return "", nil
		}
		s, ok := v.(string)
		if !ok {
			return "", fmt.Errorf("runtime option %q must be a string", key)
		}
		return s, nil
	}
	var err error
	if opts.Virtualenv, err = str("virtualenv"); err != nil {
		return opts, err
	}
	tc, err := str("toolchain")
	if err != nil {
		return opts, err
	}
	switch tc {
	case "":
		opts.Toolchain = toolchain.Auto
	case "pip":
		opts.Toolchain = toolchain.Pip
	case "poetry":
		opts.Toolchain = toolchain.Poetry
	case "uv":
		opts.Toolchain = toolchain.Uv
	default:
		return opts, fmt.Errorf("unsupported toolchain option: %s", tc)
	}
	checker, err := str("typechecker")
	if err != nil {
		return opts, err
	}
	switch checker {
	case "":
	case "mypy":
		opts.Typechecker = toolchain.TypeCheckerMypy
	case "pyright":
		opts.Typechecker = toolchain.TypeCheckerPyright
	default:
		return opts, fmt.Errorf("unsupported typechecker option: %s", checker)
	}
	// Plugins (not policy packs) never run in the ambient interpreter: default them to ./venv.
	if isPlugin && opts.Virtualenv == "" && (opts.Toolchain == toolchain.Auto || opts.Toolchain == toolchain.Pip) {
		opts.Virtualenv = "venv"
	}
	return opts, nil
}

func (h *pythonHost) Handshake(
	ctx context.Context, req *pulumirpc.LanguageHandshakeRequest,
) (*pulumirpc.LanguageHandshakeResponse, error) {
	h.engineAddress = req.GetEngineAddress()
	hctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	if err := rpcutil.Healthcheck(hctx, h.engineAddress, 5*time.Minute, stop); err != nil {
		return nil, fmt.Errorf("starting engine health check: %w", err)
	}
	return &pulumirpc.LanguageHandshakeResponse{}, nil
}

func (h *pythonHost) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: version.Version}, nil
}

func (h *pythonHost) Cancel(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	h.cancel()
	return &emptypb.Empty{}, nil
}

// engineLog returns writers that send text to the engine as ephemeral log messages.
func (h *pythonHost) engineLog(ctx context.Context) (io.Writer, io.Writer, io.Closer, error) {
	if h.engineAddress == "" {
		return io.Discard, io.Discard, io.NopCloser(nil), nil
	}
	conn, err := grpc.NewClient(h.engineAddress,
		grpc.WithTransportCredentials(insecure.NewCredentials()), rpcutil.GrpcChannelOptions())
	if err != nil {
		return nil, nil, nil, fmt.Errorf("connecting to the engine: %w", err)
	}
	client := pulumirpc.NewEngineClient(conn)
	stream := rand.Int31() //nolint:gosec // only a stream id
	mk := func(sev pulumirpc.LogSeverity) io.Writer {
		return writerFunc(func(p []byte) (int, error) {
			_, err := client.Log(ctx, &pulumirpc.LogRequest{
				Message: strings.ToValidUTF8(string(p), "\uFFFD"), Ephemeral: true, StreamId: stream, Severity: sev,
			})
			if err != nil {
				return 0, err
			}
			return len(p), nil
		})
	}
	return mk(pulumirpc.LogSeverity_INFO), mk(pulumirpc.LogSeverity_ERROR), conn, nil
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// GetRequiredPlugins is superseded by GetRequiredPackages; the engine falls back to it on Unimplemented.

// GetRequiredPackages lists the resource plugins that the installed Pulumi provider SDKs ask for: every
// installed distribution that ships a pulumi-plugin.json (unless it says "resource": false), and, for SDKs
// too old to ship one, any distribution named pulumi-*.
func (h *pythonHost) GetRequiredPackages(
	ctx context.Context, req *pulumirpc.GetRequiredPackagesRequest,
) (*pulumirpc.GetRequiredPackagesResponse, error) {
	opts, err := pythonOptions(req.GetInfo(), false)
	if err != nil {
		return nil, err
	}
	tc, err := toolchain.ResolveToolchain(opts)
	if err != nil {
		return nil, err
	}
	stdout, stderr, closer, err := h.engineLog(ctx)
	if err != nil {
		return nil, err
	}
	defer closer.Close()
	if err := tc.EnsureVenv(ctx, req.GetInfo().GetProgramDirectory(), false, true, stdout, stderr); err != nil {
		return nil, err
	}
	installed, err := tc.ListPackages(ctx, true)
	if err != nil {
		return nil, err
	}
	manifests := pluginManifests(ctx, tc, installed)
	var pkgs []*pulumirpc.PackageDependency
	for _, dist := range installed {
		if dep := packageFor(dist, manifests[dist.Name]); dep != nil {
			pkgs = append(pkgs, dep)
		}
	}
	return &pulumirpc.GetRequiredPackagesResponse{Packages: pkgs}, nil
}

// Distributions known to have no plugin even though their names start with pulumi-.
var withoutPlugin = map[string]bool{"pulumi": true, "pulumi-policy": true, "pulumi-esc-sdk": true}

// findManifests prints {distribution: path of its pulumi-plugin.json or ""} for the names in argv.
const findManifests = `
import importlib.metadata as md, importlib.util as iu, json, os, sys
out = {}
for name in sys.argv[1:]:
    found = ""
    try:
        top = md.distribution(name).metadata["Name"].replace("-", "_")
        spec = iu.find_spec(top)
        for loc in (list(spec.submodule_search_locations or []) if spec else []):
            p = os.path.join(str(loc), "pulumi-plugin.json")
            if os.path.isfile(p):
                found = p
                break
    except Exception:
        pass
    out[name] = found
print(json.dumps(out))
`

func pluginManifests(
	ctx context.Context, tc toolchain.Toolchain, dists []plugin.DependencyInfo,
) map[string]*plugin.PulumiPluginJSON {
	result := map[string]*plugin.PulumiPluginJSON{}
	if len(dists) == 0 {
		return result
	}
	args := []string{"-c", findManifests}
	for _, d := range dists {
		args = append(args, d.Name)
	}
	cmd, err := tc.Command(ctx, args...)
	if err != nil {
		logging.V(5).Infof("pluginManifests: %v", err)
		return result
	}
	out, err := cmd.Output()
	if err != nil {
		logging.V(5).Infof("pluginManifests: %v", err)
		return result
	}
	var paths map[string]string
	if err := json.Unmarshal(out, &paths); err != nil {
		logging.V(5).Infof("pluginManifests: %v", err)
		return result
	}
	for name, path := range paths {
		if path == "" {
			continue
		}
		if m, err := plugin.LoadPulumiPluginJSON(path); err == nil {
			result[name] = m
		} else {
			logging.V(5).Infof("pluginManifests: reading %s: %v", path, err)
		}
	}
	return result
}

func packageFor(dist plugin.DependencyInfo, manifest *plugin.PulumiPluginJSON) *pulumirpc.PackageDependency {
	if withoutPlugin[dist.Name] {
		return nil
	}
	if manifest == nil && !strings.HasPrefix(dist.Name, "pulumi-") {
		return nil
	}
	dep := &pulumirpc.PackageDependency{Kind: string(apitype.ResourcePlugin)}
	if manifest != nil {
		if !manifest.Resource {
			return nil
		}
		dep.Name, dep.Version, dep.Server = manifest.Name, manifest.Version, manifest.Server
		if p := manifest.Parameterization; p != nil {
			dep.Parameterization = &pulumirpc.PackageParameterization{Name: p.Name, Version: p.Version, Value: p.Value}
		}
		if p := manifest.ExtensionParameterization; p != nil {
			dep.Extension = &pulumirpc.PackageParameterization{Name: p.Name, Version: p.Version, Value: p.Value}
		}
	}
	if dep.Name == "" {
		dep.Name = strings.TrimPrefix(dist.Name, "pulumi-")
	}
	if dep.Version == "" {
		v, err := pep440ToSemver(dist.Version)
		if err != nil {
			logging.V(5).Infof("no plugin version for %s %s: %v", dist.Name, dist.Version, err)
			return nil
		}
		dep.Version = v
	}
	if !strings.HasPrefix(dep.Version, "v") {
		dep.Version = "v" + dep.Version
	}
	return dep
}

// pep440ToSemver maps the PEP 440 versions that Pulumi's SDK generator emits to plugin versions:
// 1.2 -> 1.2.0, 1.2.3a4 -> 1.2.3-alpha.4, 1.2.3b4 -> -beta.4, 1.2.3rc4 -> -rc.4,
// 1.2.3.post4 -> 1.2.3+post4, 1.2.3.dev5 -> 1.2.3+dev5, 1.2.3.post4.dev5 -> 1.2.3+post4dev5.
func pep440ToSemver(v string) (string, error) {
	rest := v
	digits := func() string {
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		d := rest[:i]
		rest = rest[i:]
		return d
	}
	var release []string
	for {
		d := digits()
		if d == "" {
			return "", fmt.Errorf("cannot parse version %q", v)
		}
		release = append(release, d)
		if len(rest) > 1 && rest[0] == '.' && rest[1] >= '0' && rest[1] <= '9' {
			rest = rest[1:]
			continue
		}
		break
	}
	if strings.HasPrefix(rest, "!") {
		return "", fmt.Errorf("epochs are not supported: %q", v)
	}
	for len(release) < 3 {
		release = append(release, "0")
	}
	out := strings.Join(release, ".")
	for _, pre := range []struct{ tag, label string }{{"rc", "rc"}, {"a", "alpha"}, {"b", "beta"}} {
		if strings.HasPrefix(rest, pre.tag) {
			rest = rest[len(pre.tag):]
			out += "-" + pre.label + "." + digits()
			break
		}
	}
	build := ""
	if strings.HasPrefix(rest, ".post") {
		rest = rest[len(".post"):]
		build += "post" + digits()
	}
	if strings.HasPrefix(rest, ".dev") {
		rest = rest[len(".dev"):]
		build += "dev" + digits()
	}
	if rest != "" {
		return "", fmt.Errorf("cannot parse %q of version %q", rest, v)
	}
	if build != "" {
		out += "+" + build
	}
	return out, nil
}

// Run runs the stack's program: `python pulumi-language-python-exec --monitor ... PROGRAM ARGS`.
func (h *pythonHost) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	if h.engineAddress == "" {
		return nil, errors.New("no engine address: call Handshake before Run")
	}
	if req.GetAttachDebugger() {
		return &pulumirpc.RunResponse{Error: "this language host does not support attaching a debugger"}, nil
	}
	opts, err := pythonOptions(req.GetInfo(), false)
	if err != nil {
		return nil, err
	}
	tc, err := toolchain.ResolveToolchain(opts)
	if err != nil {
		return nil, err
	}
	if err := tc.ValidateVenv(ctx); err != nil {
		return nil, err
	}
	if err := h.typecheck(ctx, tc, opts); err != nil {
		return nil, err
	}

	args := []string{h.shim}
	flagArg := func(name, value string) {
		if value != "" {
			args = append(args, "--"+name, value)
		}
	}
	flagArg("monitor", req.GetMonitorAddress())
	flagArg("engine", h.engineAddress)
	flagArg("project", req.GetProject())
	flagArg("root_directory", req.GetInfo().GetRootDirectory())
	flagArg("stack", req.GetStack())
	flagArg("pwd", req.GetPwd())
	flagArg("dry_run", strconv.FormatBool(req.GetDryRun()))
	flagArg("parallel", strconv.Itoa(int(req.GetParallel())))
	flagArg("tracing", h.tracing)
	flagArg("organization", req.GetOrganization())
	args = append(args, req.GetInfo().GetEntryPoint())
	args = append(args, req.GetArgs()...)

	// Stop the program if the engine cancels or the request goes away.
	runCtx, stopRun := context.WithCancel(h.cancelCtx)
	defer stopRun()
	context.AfterFunc(ctx, stopRun)
	cmd, err := tc.Command(runCtx, args...)
	if err != nil {
		return nil, err
	}
	cmd.Cancel = func() error {
		if err := cmd.Process.Signal(os.Interrupt); err != nil {
			return cmd.Process.Kill()
		}
		return nil
	}
	cmd.WaitDelay = 5 * time.Second
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	env := cmd.Env
	if env == nil {
		env = os.Environ()
	}
	if cfg := req.GetConfig(); cfg != nil {
		b, err := json.Marshal(cfg)
		if err != nil {
			return nil, fmt.Errorf("serializing config: %w", err)
		}
		env = append(env, "PULUMI_CONFIG="+string(b))
	}
	secretKeys := req.GetConfigSecretKeys()
	if secretKeys == nil {
		secretKeys = []string{}
	}
	b, err := json.Marshal(secretKeys)
	if err != nil {
		return nil, fmt.Errorf("serializing secret config keys: %w", err)
	}
	cmd.Env = append(env, "PULUMI_CONFIG_SECRET_KEYS="+string(b))
	logging.V(5).Infof("language host running: %s", strings.Join(cmd.Args, " "))

	if err := cmd.Run(); err != nil {
		_ = os.Stdout.Sync()
		_ = os.Stderr.Sync()
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok && ws.ExitStatus() == exitAfterUserMessage {
				return &pulumirpc.RunResponse{Bail: true}, nil
			}
			return &pulumirpc.RunResponse{
				Error: fmt.Sprintf("program exited with non-zero exit code: %d", exitErr.ExitCode()),
			}, nil
		}
		return &pulumirpc.RunResponse{
			Error: fmt.Sprintf("problem executing program (could not run language executor): %v", err),
		}, nil
	}
	return &pulumirpc.RunResponse{}, nil
}

// typecheck runs mypy or pyright over the program first when runtime.options.typechecker asks for it.
func (h *pythonHost) typecheck(ctx context.Context, tc toolchain.Toolchain, opts toolchain.PythonOptions) error {
	var name string
	switch opts.Typechecker {
	case toolchain.TypeCheckerMypy:
		name = "mypy"
	case toolchain.TypeCheckerPyright:
		name = "pyright"
	default:
		return nil
	}
	args := []string{"-m", name}
	if name == "mypy" {
		if venv, err := tc.VirtualEnvPath(ctx); err == nil && venv != "" {
			if rel, err := filepath.Rel(opts.ProgramDir, venv); err == nil {
				args = append(args, "--exclude", rel)
			}
		}
	}
	args = append(args, opts.ProgramDir)
	cmd, err := tc.Command(ctx, args...)
	if err != nil {
		return err
	}
	cmd.Dir = opts.ProgramDir
	out, err := cmd.CombinedOutput()
	os.Stdout.Write(out)
	if err != nil {
		return fmt.Errorf("%s failed: %w\n%s", name, err, out)
	}
	return nil
}

// RunPlugin runs a Python plugin or policy pack, streaming its output back to the engine.
func (h *pythonHost) RunPlugin(
	req *pulumirpc.RunPluginRequest, server grpc.ServerStreamingServer[pulumirpc.RunPluginResponse],
) error {
	ctx := server.Context()
	if req.GetAttachDebugger() {
		return errors.New("this language host does not support attaching a debugger")
	}
	isPolicyPack := req.GetKind() == string(apitype.AnalyzerPlugin)
	opts, err := pythonOptions(req.GetInfo(), !isPolicyPack)
	if err != nil {
		return err
	}
	tc, err := toolchain.ResolveToolchain(opts)
	if err != nil {
		return err
	}
	dir := req.GetInfo().GetProgramDirectory()

	var cmd *exec.Cmd
	_, statErr := os.Stat(filepath.Join(opts.Root, "__main__.py"))
	hasMain := statErr == nil
	if !hasMain && !isPolicyPack && hasModule(ctx, tc, "pulumi.run.plugin") {
		// A packaged plugin (pyproject.toml, no __main__.py): python -m pulumi.run.plugin NAME ARGS.
		if ok, err := toolchain.IsBuildablePackage(opts.Root); err != nil || !ok {
			return fmt.Errorf("plugin in %s has neither __main__.py nor a buildable pyproject.toml (%v)", opts.Root, err)
		}
		pyproject, err := toolchain.LoadPyproject(opts.Root)
		if err != nil {
			return fmt.Errorf("loading pyproject.toml: %w", err)
		}
		cmd, err = tc.ModuleCommand(ctx, "pulumi.run.plugin", append([]string{pyproject.Project.Name}, req.GetArgs()...)...)
		if err != nil {
			return err
		}
	} else if isPolicyPack {
		// Policy packs: python -u -m pulumi.policy ARGS DIR, run from the pack's directory.
		cmd, err = tc.Command(ctx, append(append([]string{"-u", "-m", "pulumi.policy"}, req.GetArgs()...), dir)...)
		if err != nil {
			return err
		}
	} else {
		cmd, err = tc.Command(ctx, append([]string{dir}, req.GetArgs()...)...)
		if err != nil {
			return err
		}
	}
	if isPolicyPack {
		cmd.Dir = dir
	} else {
		cmd.Dir = req.GetPwd()
	}

	closer, stdout, stderr, err := rpcutil.MakeRunPluginStreams(server, false)
	if err != nil {
		return err
	}
	defer closer.Close()

	// A policy pack gets the stack's project, stack, organization and configuration in its environment. The
	// engine only tells those to the analyzer, so a proxy stands in as the analyzer until the pack is up.
	var proxy *sdk.PolicyProxy
	var extraEnv []string
	if isPolicyPack {
		proxy, stdout, err = sdk.NewPolicyProxy(ctx, stdout)
		if err != nil {
			return fmt.Errorf("starting policy pack proxy: %w", err)
		}
		stackCfg, err := proxy.AwaitConfiguration(ctx)
		if err != nil {
			return fmt.Errorf("waiting for stack configuration: %w", err)
		}
		if stackCfg != nil {
			setEnv := func(k, v string) {
				if v != "" {
					extraEnv = append(extraEnv, k+"="+v)
				}
			}
			setEnv("PULUMI_ORGANIZATION", stackCfg.GetOrganization())
			setEnv("PULUMI_PROJECT", stackCfg.GetProject())
			setEnv("PULUMI_STACK", stackCfg.GetStack())
			setEnv("PULUMI_DRY_RUN", strconv.FormatBool(stackCfg.GetDryRun()))
			if stackCfg.GetConfig() != nil {
				b, err := json.Marshal(stackCfg.GetConfig())
				if err != nil {
					return fmt.Errorf("serializing stack configuration: %w", err)
				}
				setEnv("PULUMI_CONFIG", string(b))
			}
		}
	}
	env := cmd.Env // set (with the virtualenv activated) when the toolchain uses one
	if env == nil {
		env = os.Environ()
	}
	cmd.Env = append(append(env, extraEnv...), req.GetEnv()...)
	cmd.Stdout, cmd.Stderr = stdout, stderr

	if err := cmd.Start(); err != nil {
		return fmt.Errorf("problem executing plugin program (could not run language executor): %w", err)
	}
	if proxy != nil {
		err = proxy.Attach(ctx, cmd)
	} else {
		err = cmd.Wait()
	}
	if err != nil {
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			return server.Send(&pulumirpc.RunPluginResponse{
				Output: &pulumirpc.RunPluginResponse_Exitcode{Exitcode: int32(exitErr.ExitCode())}, //nolint:gosec
			})
		}
		return err
	}
	return closer.Close()
}

func hasModule(ctx context.Context, tc toolchain.Toolchain, module string) bool {
	cmd, err := tc.Command(ctx, "-c", "import "+module)
	if err != nil {
		return false
	}
	return cmd.Run() == nil
}

// InstallDependencies creates the virtualenv if one is configured and installs requirements.txt /
// pyproject.toml into it (`pulumi install`, and before running plugins and policy packs).
func (h *pythonHost) InstallDependencies(
	req *pulumirpc.InstallDependenciesRequest, server grpc.ServerStreamingServer[pulumirpc.InstallDependenciesResponse],
) error {
	opts, err := pythonOptions(req.GetInfo(), req.GetIsPlugin())
	if err != nil {
		return err
	}
	closer, stdout, stderr, err := rpcutil.MakeInstallDependenciesStreams(server, req.GetIsTerminal())
	if err != nil {
		return err
	}
	defer closer.Close()
	ctx := server.Context()
	dir := req.GetInfo().GetProgramDirectory()

	fmt.Fprint(stdout, "Installing dependencies...\n\n")
	tc, err := toolchain.ResolveToolchain(opts)
	if err != nil {
		return err
	}
	if req.GetIsPlugin() {
		if ok, err := toolchain.IsBuildablePackage(dir); err != nil {
			return fmt.Errorf("checking for a buildable plugin package: %w", err)
		} else if ok {
			if err := tc.EnsureVenv(ctx, dir, req.GetUseLanguageVersionTools(), true, stdout, stderr); err != nil {
				return fmt.Errorf("creating virtual environment: %w", err)
			}
			cmd, err := tc.ModuleCommand(ctx, "pip", "install", dir)
			if err != nil {
				return err
			}
			cmd.Stdout, cmd.Stderr = stdout, stderr
			if err := cmd.Run(); err != nil {
				return fmt.Errorf("installing plugin package: %w", err)
			}
		}
	}
	if err := tc.InstallDependencies(ctx, dir, req.GetUseLanguageVersionTools(), true, stdout, stderr); err != nil {
		return err
	}
	fmt.Fprint(stdout, "Finished installing dependencies\n\n")
	return closer.Close()
}

// RuntimeOptionsPrompts asks nothing: this project's Pulumi.yaml sets its runtime options itself.
func (h *pythonHost) RuntimeOptionsPrompts(
	context.Context, *pulumirpc.RuntimeOptionsRequest,
) (*pulumirpc.RuntimeOptionsResponse, error) {
	return &pulumirpc.RuntimeOptionsResponse{}, nil
}

func (h *pythonHost) Template(ctx context.Context, req *pulumirpc.TemplateRequest) (*pulumirpc.TemplateResponse, error) {
	opts, err := pythonOptions(req.GetInfo(), false)
	if err != nil {
		return nil, err
	}
	tc, err := toolchain.ResolveToolchain(opts)
	if err != nil {
		return nil, err
	}
	if err := tc.PrepareProject(ctx, req.GetProjectName(), req.GetInfo().GetProgramDirectory(), false, nil, nil); err != nil {
		return nil, err
	}
	return &pulumirpc.TemplateResponse{}, nil
}

func (h *pythonHost) About(ctx context.Context, req *pulumirpc.AboutRequest) (*pulumirpc.AboutResponse, error) {
	opts := toolchain.PythonOptions{Toolchain: toolchain.Pip}
	if req.GetInfo() != nil {
		var err error
		if opts, err = pythonOptions(req.GetInfo(), false); err != nil {
			return nil, err
		}
	}
	tc, err := toolchain.ResolveToolchain(opts)
	if err != nil {
		return nil, err
	}
	info, err := tc.About(ctx)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.AboutResponse{
		Executable: info.PythonExecutable,
		Version:    info.PythonVersion.String(),
		Metadata: map[string]string{
			"toolchain":        toolchain.Name(opts.Toolchain),
			"toolchainVersion": info.ToolchainVersion.String(),
			"typechecker":      toolchain.TypeCheckerName(opts.Typechecker),
			"languageHost":     "taxcalc-consent/engine (own build; see engine/README.md)",
		},
	}, nil
}

func (h *pythonHost) GetProgramDependencies(
	ctx context.Context, req *pulumirpc.GetProgramDependenciesRequest,
) (*pulumirpc.GetProgramDependenciesResponse, error) {
	opts, err := pythonOptions(req.GetInfo(), false)
	if err != nil {
		return nil, err
	}
	tc, err := toolchain.ResolveToolchain(opts)
	if err != nil {
		return nil, err
	}
	deps, err := tc.ListPackages(ctx, req.GetTransitiveDependencies())
	if err != nil {
		return nil, fmt.Errorf("listing python dependencies: %w", err)
	}
	out := make([]*pulumirpc.DependencyInfo, len(deps))
	for i, d := range deps {
		out[i] = &pulumirpc.DependencyInfo{Name: d.Name, Version: d.Version}
	}
	return &pulumirpc.GetProgramDependenciesResponse{Dependencies: out}, nil
}
