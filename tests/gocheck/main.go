// gocheck decodes GitLab Runner config.toml files with BurntSushi/toml into
// structs typed like the runner's own (gitlab-runner common/config.go,
// helpers/docker/credentials.go, cache/cacheconfig/cacheconfig.go), so a
// wrong TOML type fails here exactly as it would make the runner reject the
// whole file.
//
// Usage: gocheck [-v] [--strict] [--json] FILE...
//
// Exit status: 0 all files OK, 1 at least one file failed, 2 usage error.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// ---------------------------------------------------------------------------
// Schema. Field types follow the runner's structs; json tags use the TOML key
// names so the --json output reads like the file. Embedded structs are
// flattened by both BurntSushi/toml and encoding/json, as in the runner.
// ---------------------------------------------------------------------------

// Config is the top level of config.toml (runner: common.Config).
type Config struct {
	ListenAddress    string          `toml:"listen_address" json:"listen_address"`
	SessionServer    SessionServer   `toml:"session_server" json:"session_server"`
	Labels           Labels          `toml:"labels" json:"labels"`
	Concurrent       int             `toml:"concurrent" json:"concurrent"`
	CheckInterval    int             `toml:"check_interval" json:"check_interval"`
	LogLevel         *string         `toml:"log_level" json:"log_level"`
	LogFormat        *string         `toml:"log_format" json:"log_format"`
	User             string          `toml:"user" json:"user"`
	Runners          []*RunnerConfig `toml:"runners" json:"runners"`
	SentryDSN        *string         `toml:"sentry_dsn" json:"sentry_dsn"`
	ConnectionMaxAge *time.Duration  `toml:"connection_max_age" json:"connection_max_age"`
	Machine          *MachineConfig  `toml:"machine" json:"machine"`
	Experimental     *Experimental   `toml:"experimental" json:"experimental"`
	ShutdownTimeout  int             `toml:"shutdown_timeout" json:"shutdown_timeout"`
}

type Labels map[string]string

type SessionServer struct {
	ListenAddress    string `toml:"listen_address" json:"listen_address"`
	AdvertiseAddress string `toml:"advertise_address" json:"advertise_address"`
	SessionTimeout   int    `toml:"session_timeout" json:"session_timeout"`
}

type MachineConfig struct {
	ShutdownDrain *DockerMachineShutdownDrain `toml:"shutdown_drain" json:"shutdown_drain"`
}

type DockerMachineShutdownDrain struct {
	Enabled      bool          `toml:"enabled" json:"enabled"`
	Concurrency  int           `toml:"concurrency" json:"concurrency"`
	MaxRetries   int           `toml:"max_retries" json:"max_retries"`
	RetryBackoff time.Duration `toml:"retry_backoff" json:"retry_backoff"`
}

type Experimental struct {
	UsageLogger UsageLogger `toml:"usage_logger" json:"usage_logger"`
}

type UsageLogger struct {
	Enabled        bool              `toml:"enabled" json:"enabled"`
	Writers        []string          `toml:"writers" json:"writers"`
	Logrotate      LogrotateConfig   `toml:"logrotate" json:"logrotate"`
	Snowplow       map[string]any    `toml:"snowplow_billing" json:"snowplow_billing"` // not type-checked
	LogDir         string            `toml:"log_dir" json:"log_dir"`
	MaxBackupFiles *int64            `toml:"max_backup_files" json:"max_backup_files"`
	MaxRotationAge *time.Duration    `toml:"max_rotation_age" json:"max_rotation_age"`
	Labels         map[string]string `toml:"labels" json:"labels"`
}

type LogrotateConfig struct {
	LogDir         string            `toml:"log_dir" json:"log_dir"`
	MaxBackupFiles *int64            `toml:"max_backup_files" json:"max_backup_files"`
	MaxRotationAge *time.Duration    `toml:"max_rotation_age" json:"max_rotation_age"`
	Labels         map[string]string `toml:"labels" json:"labels"`
}

// RunnerConfig is one [[runners]] entry (runner: common.RunnerConfig, which
// embeds RunnerCredentials and RunnerSettings).
type RunnerConfig struct {
	Name                           string              `toml:"name" json:"name"`
	Limit                          int                 `toml:"limit" json:"limit"`
	OutputLimit                    int                 `toml:"output_limit" json:"output_limit"`
	RequestConcurrency             int                 `toml:"request_concurrency" json:"request_concurrency"`
	StrictCheckInterval            *bool               `toml:"strict_check_interval" json:"strict_check_interval"`
	UnhealthyRequestsLimit         int                 `toml:"unhealthy_requests_limit" json:"unhealthy_requests_limit"`
	UnhealthyInterval              *time.Duration      `toml:"unhealthy_interval" json:"unhealthy_interval"`
	JobStatusFinalUpdateRetryLimit int                 `toml:"job_status_final_update_retry_limit" json:"job_status_final_update_retry_limit"`
	Experimental                   *RunnerExperimental `toml:"experimental" json:"experimental"`

	RunnerCredentials
	RunnerSettings
}

type RunnerExperimental struct {
	BootVerify *BootVerify `toml:"boot_verify" json:"boot_verify"`
}

type BootVerify struct {
	Enabled           bool          `toml:"enabled" json:"enabled"`
	Timeout           time.Duration `toml:"timeout" json:"timeout"`
	AcquireMinBackoff time.Duration `toml:"acquire_min_backoff" json:"acquire_min_backoff"`
	AcquireMaxBackoff time.Duration `toml:"acquire_max_backoff" json:"acquire_max_backoff"`
}

type RunnerCredentials struct {
	URL             string    `toml:"url" json:"url"`
	ID              int64     `toml:"id" json:"id"`
	Token           string    `toml:"token" json:"token"`
	TokenObtainedAt time.Time `toml:"token_obtained_at" json:"token_obtained_at"`
	TokenExpiresAt  time.Time `toml:"token_expires_at" json:"token_expires_at"`
	TLSCAFile       string    `toml:"tls-ca-file" json:"tls-ca-file"`
	TLSCertFile     string    `toml:"tls-cert-file" json:"tls-cert-file"`
	TLSKeyFile      string    `toml:"tls-key-file" json:"tls-key-file"`
}

type RunnerSettings struct {
	Labels Labels `toml:"labels" json:"labels"`

	Executor  string `toml:"executor" json:"executor"`
	BuildsDir string `toml:"builds_dir" json:"builds_dir"`
	CacheDir  string `toml:"cache_dir" json:"cache_dir"`
	CloneURL  string `toml:"clone_url" json:"clone_url"`

	Environment []string `toml:"environment" json:"environment"`

	ProxyExec *bool `toml:"proxy_exec" json:"proxy_exec"`

	PreGetSourcesScript  string `toml:"pre_get_sources_script" json:"pre_get_sources_script"`
	PostGetSourcesScript string `toml:"post_get_sources_script" json:"post_get_sources_script"`
	PreBuildScript       string `toml:"pre_build_script" json:"pre_build_script"`
	PostBuildScript      string `toml:"post_build_script" json:"post_build_script"`

	PrepareTimeout     *time.Duration `toml:"prepare_timeout" json:"prepare_timeout"`
	GetSourcesTimeout  *time.Duration `toml:"get_sources_timeout" json:"get_sources_timeout"`
	DebugTraceDisabled bool           `toml:"debug_trace_disabled" json:"debug_trace_disabled"`

	SafeDirectoryCheckout *bool `toml:"safe_directory_checkout" json:"safe_directory_checkout"`
	CleanGitConfig        *bool `toml:"clean_git_config" json:"clean_git_config"`

	Shell          string         `toml:"shell" json:"shell"`
	CustomBuildDir CustomBuildDir `toml:"custom_build_dir" json:"custom_build_dir"`
	Referees       map[string]any `toml:"referees" json:"referees"` // not type-checked
	Cache          *CacheConfig   `toml:"cache" json:"cache"`
	Artifact       ArtifactConfig `toml:"artifact" json:"artifact"`

	FeatureFlags map[string]bool `toml:"feature_flags" json:"feature_flags"`

	Monitoring map[string]any `toml:"monitoring" json:"monitoring"` // not type-checked

	UseSlotCgroups     bool   `toml:"use_slot_cgroups" json:"use_slot_cgroups"`
	SlotCgroupTemplate string `toml:"slot_cgroup_template" json:"slot_cgroup_template"`

	Instance   *InstanceConfig   `toml:"instance" json:"instance"`
	SSH        *SshConfig        `toml:"ssh" json:"ssh"`
	Docker     *DockerConfig     `toml:"docker" json:"docker"`
	Parallels  *ParallelsConfig  `toml:"parallels" json:"parallels"`
	VirtualBox *VirtualBoxConfig `toml:"virtualbox" json:"virtualbox"`
	Machine    map[string]any    `toml:"machine" json:"machine"`       // not type-checked
	Kubernetes map[string]any    `toml:"kubernetes" json:"kubernetes"` // not type-checked
	Custom     *CustomConfig     `toml:"custom" json:"custom"`
	Autoscaler map[string]any    `toml:"autoscaler" json:"autoscaler"` // not type-checked

	StepRunnerImage string `toml:"step_runner_image" json:"step_runner_image"`
}

type CustomBuildDir struct {
	Enabled *bool `toml:"enabled" json:"enabled"`
}

type ArtifactConfig struct {
	UploadTimeout         *time.Duration `toml:"upload_timeout" json:"upload_timeout"`
	ResponseHeaderTimeout *time.Duration `toml:"response_header_timeout" json:"response_header_timeout"`
}

// CacheConfig is [runners.cache] (runner: cache/cacheconfig.Config). CamelCase keys.
type CacheConfig struct {
	Type                   string            `toml:"Type" json:"Type"`
	Path                   string            `toml:"Path" json:"Path"`
	Shared                 bool              `toml:"Shared" json:"Shared"`
	MaxUploadedArchiveSize int64             `toml:"MaxUploadedArchiveSize" json:"MaxUploadedArchiveSize"`
	S3                     *CacheS3Config    `toml:"s3" json:"s3"`
	GCS                    *CacheGCSConfig   `toml:"gcs" json:"gcs"`
	Azure                  *CacheAzureConfig `toml:"azure" json:"azure"`
}

type CacheS3Config struct {
	ServerAddress                       string `toml:"ServerAddress" json:"ServerAddress"`
	AccessKey                           string `toml:"AccessKey" json:"AccessKey"`
	SecretKey                           string `toml:"SecretKey" json:"SecretKey"`
	SessionToken                        string `toml:"SessionToken" json:"SessionToken"`
	BucketName                          string `toml:"BucketName" json:"BucketName"`
	BucketLocation                      string `toml:"BucketLocation" json:"BucketLocation"`
	Insecure                            bool   `toml:"Insecure" json:"Insecure"`
	AuthenticationType                  string `toml:"AuthenticationType" json:"AuthenticationType"`
	ServerSideEncryption                string `toml:"ServerSideEncryption" json:"ServerSideEncryption"`
	ServerSideEncryptionKeyID           string `toml:"ServerSideEncryptionKeyID" json:"ServerSideEncryptionKeyID"`
	DualStack                           *bool  `toml:"DualStack" json:"DualStack"`
	PathStyle                           *bool  `toml:"PathStyle" json:"PathStyle"`
	Accelerate                          bool   `toml:"Accelerate" json:"Accelerate"`
	RoleARN                             string `toml:"RoleARN" json:"RoleARN"`
	UploadRoleARN                       string `toml:"UploadRoleARN" json:"UploadRoleARN"`
	AssumeRoleMaxConcurrency            int    `toml:"AssumeRoleMaxConcurrency" json:"AssumeRoleMaxConcurrency"`
	DisableAssumeRoleCredentialsCaching bool   `toml:"DisableAssumeRoleCredentialsCaching" json:"DisableAssumeRoleCredentialsCaching"`
}

type CacheGCSCredentials struct {
	AccessID   string `toml:"AccessID" json:"AccessID"`
	PrivateKey string `toml:"PrivateKey" json:"PrivateKey"`
}

type CacheGCSConfig struct {
	CacheGCSCredentials
	CredentialsFile string `toml:"CredentialsFile" json:"CredentialsFile"`
	BucketName      string `toml:"BucketName" json:"BucketName"`
	UniverseDomain  string `toml:"UniverseDomain" json:"UniverseDomain"`
}

type CacheAzureCredentials struct {
	AccountName string `toml:"AccountName" json:"AccountName"`
	AccountKey  string `toml:"AccountKey" json:"AccountKey"`
}

type CacheAzureConfig struct {
	CacheAzureCredentials
	ContainerName string `toml:"ContainerName" json:"ContainerName"`
	StorageDomain string `toml:"StorageDomain" json:"StorageDomain"`
}

// StringOrArray accepts a TOML string or an array of strings (runner:
// common.StringOrArray, used for pull_policy).
type StringOrArray []string

func (p *StringOrArray) UnmarshalTOML(data any) error {
	switch v := data.(type) {
	case string:
		*p = StringOrArray{v}
	case []any:
		out := StringOrArray{}
		for _, vv := range v {
			s, ok := vv.(string)
			if !ok {
				return fmt.Errorf("cannot load value of type %T into a StringOrArray", vv)
			}
			out = append(out, s)
		}
		*p = out
	default:
		return fmt.Errorf("cannot load value of type %T into a StringOrArray", v)
	}
	return nil
}

// DockerCredentials is embedded in [runners.docker] (runner: helpers/docker.Credentials).
type DockerCredentials struct {
	Host      string `toml:"host" json:"host"`
	CertPath  string `toml:"tls_cert_path" json:"tls_cert_path"`
	TLSVerify bool   `toml:"tls_verify" json:"tls_verify"`
}

// DockerConfig is [runners.docker] (runner: common.DockerConfig).
type DockerConfig struct {
	DockerCredentials
	Hostname                   string              `toml:"hostname" json:"hostname"`
	Image                      string              `toml:"image" json:"image"`
	Runtime                    string              `toml:"runtime" json:"runtime"`
	Memory                     string              `toml:"memory" json:"memory"`
	MemorySwap                 string              `toml:"memory_swap" json:"memory_swap"`
	MemoryReservation          string              `toml:"memory_reservation" json:"memory_reservation"`
	CgroupParent               string              `toml:"cgroup_parent" json:"cgroup_parent"`
	CPUSetCPUs                 string              `toml:"cpuset_cpus" json:"cpuset_cpus"`
	CPUSetMems                 string              `toml:"cpuset_mems" json:"cpuset_mems"`
	CPUS                       string              `toml:"cpus" json:"cpus"`
	CPUShares                  int64               `toml:"cpu_shares" json:"cpu_shares"`
	DNS                        []string            `toml:"dns" json:"dns"`
	DNSSearch                  []string            `toml:"dns_search" json:"dns_search"`
	Privileged                 bool                `toml:"privileged" json:"privileged"`
	ServicesPrivileged         *bool               `toml:"services_privileged" json:"services_privileged"`
	DisableEntrypointOverwrite bool                `toml:"disable_entrypoint_overwrite" json:"disable_entrypoint_overwrite"`
	User                       string              `toml:"user" json:"user"`
	AllowedUsers               []string            `toml:"allowed_users" json:"allowed_users"`
	GroupAdd                   []string            `toml:"group_add" json:"group_add"`
	UsernsMode                 string              `toml:"userns_mode" json:"userns_mode"`
	CapAdd                     []string            `toml:"cap_add" json:"cap_add"`
	CapDrop                    []string            `toml:"cap_drop" json:"cap_drop"`
	OomKillDisable             bool                `toml:"oom_kill_disable" json:"oom_kill_disable"`
	OomScoreAdjust             int                 `toml:"oom_score_adjust" json:"oom_score_adjust"`
	SecurityOpt                []string            `toml:"security_opt" json:"security_opt"`
	ServicesSecurityOpt        []string            `toml:"services_security_opt" json:"services_security_opt"`
	Devices                    []string            `toml:"devices" json:"devices"`
	DeviceCgroupRules          []string            `toml:"device_cgroup_rules" json:"device_cgroup_rules"`
	Gpus                       string              `toml:"gpus" json:"gpus"`
	ServicesDevices            map[string][]string `toml:"services_devices" json:"services_devices"`
	DisableCache               bool                `toml:"disable_cache" json:"disable_cache"`
	Volumes                    []string            `toml:"volumes" json:"volumes"`
	VolumeKeep                 bool                `toml:"volume_keep" json:"volume_keep"`
	VolumeDriver               string              `toml:"volume_driver" json:"volume_driver"`
	VolumeDriverOps            map[string]string   `toml:"volume_driver_ops" json:"volume_driver_ops"`
	CacheDir                   string              `toml:"cache_dir" json:"cache_dir"`
	ExtraHosts                 []string            `toml:"extra_hosts" json:"extra_hosts"`
	VolumesFrom                []string            `toml:"volumes_from" json:"volumes_from"`
	NetworkMode                string              `toml:"network_mode" json:"network_mode"`
	PidMode                    string              `toml:"pid_mode" json:"pid_mode"`
	IpcMode                    string              `toml:"ipcmode" json:"ipcmode"`
	MacAddress                 string              `toml:"mac_address" json:"mac_address"`
	Links                      []string            `toml:"links" json:"links"`
	Services                   []Service           `toml:"services" json:"services"`
	ServicesLimit              *int                `toml:"services_limit" json:"services_limit"`
	ServiceMemory              string              `toml:"service_memory" json:"service_memory"`
	ServiceMemorySwap          string              `toml:"service_memory_swap" json:"service_memory_swap"`
	ServiceMemoryReservation   string              `toml:"service_memory_reservation" json:"service_memory_reservation"`
	ServiceCgroupParent        string              `toml:"service_cgroup_parent" json:"service_cgroup_parent"`
	ServiceSlotCgroupTemplate  string              `toml:"service_slot_cgroup_template" json:"service_slot_cgroup_template"`
	ServiceCPUSetCPUs          string              `toml:"service_cpuset_cpus" json:"service_cpuset_cpus"`
	ServiceCPUS                string              `toml:"service_cpus" json:"service_cpus"`
	ServiceCPUShares           int64               `toml:"service_cpu_shares" json:"service_cpu_shares"`
	ServiceGpus                string              `toml:"service_gpus" json:"service_gpus"`
	WaitForServicesTimeout     int                 `toml:"wait_for_services_timeout" json:"wait_for_services_timeout"`
	AllowedImages              []string            `toml:"allowed_images" json:"allowed_images"`
	AllowedPrivilegedImages    []string            `toml:"allowed_privileged_images" json:"allowed_privileged_images"`
	AllowedPrivilegedServices  []string            `toml:"allowed_privileged_services" json:"allowed_privileged_services"`
	AllowedPullPolicies        []string            `toml:"allowed_pull_policies" json:"allowed_pull_policies"`
	AllowedServices            []string            `toml:"allowed_services" json:"allowed_services"`
	PullPolicy                 StringOrArray       `toml:"pull_policy" json:"pull_policy"`
	Isolation                  string              `toml:"isolation" json:"isolation"`
	ShmSize                    int64               `toml:"shm_size" json:"shm_size"`
	Tmpfs                      map[string]string   `toml:"tmpfs" json:"tmpfs"`
	ServicesTmpfs              map[string]string   `toml:"services_tmpfs" json:"services_tmpfs"`
	SysCtls                    map[string]string   `toml:"sysctls" json:"sysctls"`
	HelperImage                string              `toml:"helper_image" json:"helper_image"`
	HelperImageFlavor          string              `toml:"helper_image_flavor" json:"helper_image_flavor"`
	ContainerLabels            map[string]string   `toml:"container_labels" json:"container_labels"`
	EnableIPv6                 bool                `toml:"enable_ipv6" json:"enable_ipv6"`
	Ulimit                     map[string]string   `toml:"ulimit" json:"ulimit"`
	NetworkMTU                 int                 `toml:"network_mtu" json:"network_mtu"`
	LogOptions                 map[string]string   `toml:"log_options" json:"log_options"`
}

// Service is one [[runners.docker.services]] entry (runner: common.Service).
type Service struct {
	Name            string   `toml:"name" json:"name"`
	Alias           string   `toml:"alias" json:"alias"`
	Command         []string `toml:"command" json:"command"`
	Entrypoint      []string `toml:"entrypoint" json:"entrypoint"`
	Environment     []string `toml:"environment" json:"environment"`
	SuspendDataPath string   `toml:"suspend_data_path" json:"suspend_data_path"`
}

type InstanceConfig struct {
	AllowedImages     []string `toml:"allowed_images" json:"allowed_images"`
	UseCommonBuildDir bool     `toml:"use_common_build_dir" json:"use_common_build_dir"`
}

type SshConfig struct {
	User                         string `toml:"user" json:"user"`
	Password                     string `toml:"password" json:"password"`
	Host                         string `toml:"host" json:"host"`
	Port                         string `toml:"port" json:"port"`
	IdentityFile                 string `toml:"identity_file" json:"identity_file"`
	DisableStrictHostKeyChecking *bool  `toml:"disable_strict_host_key_checking" json:"disable_strict_host_key_checking"`
	KnownHostsFile               string `toml:"known_hosts_file" json:"known_hosts_file"`
}

type ParallelsConfig struct {
	BaseName         string   `toml:"base_name" json:"base_name"`
	TemplateName     string   `toml:"template_name" json:"template_name"`
	DisableSnapshots bool     `toml:"disable_snapshots" json:"disable_snapshots"`
	TimeServer       string   `toml:"time_server" json:"time_server"`
	AllowedImages    []string `toml:"allowed_images" json:"allowed_images"`
}

type VirtualBoxConfig struct {
	BaseName         string   `toml:"base_name" json:"base_name"`
	BaseSnapshot     string   `toml:"base_snapshot" json:"base_snapshot"`
	BaseFolder       string   `toml:"base_folder" json:"base_folder"`
	DisableSnapshots bool     `toml:"disable_snapshots" json:"disable_snapshots"`
	AllowedImages    []string `toml:"allowed_images" json:"allowed_images"`
	StartType        string   `toml:"start_type" json:"start_type"`
}

type CustomConfig struct {
	ConfigExec          string   `toml:"config_exec" json:"config_exec"`
	ConfigArgs          []string `toml:"config_args" json:"config_args"`
	ConfigExecTimeout   *int     `toml:"config_exec_timeout" json:"config_exec_timeout"`
	PrepareExec         string   `toml:"prepare_exec" json:"prepare_exec"`
	PrepareArgs         []string `toml:"prepare_args" json:"prepare_args"`
	PrepareExecTimeout  *int     `toml:"prepare_exec_timeout" json:"prepare_exec_timeout"`
	RunExec             string   `toml:"run_exec" json:"run_exec"`
	RunArgs             []string `toml:"run_args" json:"run_args"`
	CleanupExec         string   `toml:"cleanup_exec" json:"cleanup_exec"`
	CleanupArgs         []string `toml:"cleanup_args" json:"cleanup_args"`
	CleanupExecTimeout  *int     `toml:"cleanup_exec_timeout" json:"cleanup_exec_timeout"`
	GracefulKillTimeout *int     `toml:"graceful_kill_timeout" json:"graceful_kill_timeout"`
	ForceKillTimeout    *int     `toml:"force_kill_timeout" json:"force_kill_timeout"`
}

// Tables decoded into map[string]any: their values are accepted as-is (not
// type-checked) and their nested keys are not reported as undecoded.
var opaquePrefixes = [][]string{
	{"experimental", "usage_logger", "snowplow_billing"},
	{"runners", "referees"},
	{"runners", "monitoring"},
	{"runners", "machine"},
	{"runners", "kubernetes"},
	{"runners", "autoscaler"},
}

// ---------------------------------------------------------------------------
// Checking
// ---------------------------------------------------------------------------

type result struct {
	Path      string   `json:"path"`
	OK        bool     `json:"ok"`
	Errors    []string `json:"errors"`
	Warnings  []string `json:"warnings"`
	Undecoded []string `json:"undecoded"`
	Config    *Config  `json:"config"`
}

func hasPrefix(key toml.Key, prefix []string) bool {
	if len(key) <= len(prefix) {
		return false
	}
	for i, p := range prefix {
		if key[i] != p {
			return false
		}
	}
	return true
}

func check(path string, strict bool) result {
	r := result{Path: path, Errors: []string{}, Warnings: []string{}, Undecoded: []string{}}
	// Like the runner (common.NewConfig), decode on top of the defaults
	// concurrent = 1 and session_timeout = 1800; absent keys keep them.
	cfg := Config{Concurrent: 1, SessionServer: SessionServer{SessionTimeout: 1800}}
	data, err := os.ReadFile(path)
	if err != nil {
		r.Errors = append(r.Errors, err.Error())
		return r
	}
	// The runner's BurntSushi/toml 1.6.0 skips a UTF-8 BOM (since 1.3.0); Debian's
	// 1.2.0 would reject it, so skip it here as the runner's decoder does.
	meta, err := toml.Decode(strings.TrimPrefix(string(data), "\ufeff"), &cfg)
	if err != nil {
		r.Errors = append(r.Errors, err.Error())
		return r
	}
	r.Config = &cfg

	if meta.IsDefined("concurrent") && cfg.Concurrent < 1 {
		r.Errors = append(r.Errors, fmt.Sprintf(
			"concurrent = %d: must be >= 1 (runner exits fatally)", cfg.Concurrent))
	}

	// [runners.feature_flags] values: the map[string]bool field type already
	// makes any non-boolean value a decode error above, as in the runner.
	for i, rc := range cfg.Runners {
		if rc == nil {
			continue
		}
		for _, e := range rc.Environment {
			if !strings.Contains(e, "=") {
				r.Warnings = append(r.Warnings, fmt.Sprintf(
					"runners[%d] (%s): environment entry %q has no '=' and is silently dropped by the runner",
					i, rc.Name, e))
			}
		}
		if rc.Docker != nil {
			for j, s := range rc.Docker.Services {
				for _, e := range s.Environment {
					if !strings.Contains(e, "=") {
						r.Warnings = append(r.Warnings, fmt.Sprintf(
							"runners[%d] (%s): services[%d] environment entry %q has no '=' and is silently dropped",
							i, rc.Name, j, e))
					}
				}
			}
		}
	}

	for _, k := range meta.Undecoded() {
		opaque := false
		for _, p := range opaquePrefixes {
			if hasPrefix(k, p) {
				opaque = true
				break
			}
		}
		if !opaque {
			r.Undecoded = append(r.Undecoded, k.String())
		}
	}
	sort.Strings(r.Undecoded)
	if strict && len(r.Undecoded) > 0 {
		r.Errors = append(r.Errors, "undecoded keys (unknown to the runner, silently ignored): "+
			strings.Join(r.Undecoded, ", "))
	}

	r.OK = len(r.Errors) == 0
	return r
}

// ffNetworkPerBuild reports how FF_NETWORK_PER_BUILD is set for a runner:
// the [runners.feature_flags] table wins; otherwise the last environment entry.
func ffNetworkPerBuild(rc *RunnerConfig) string {
	const ff = "FF_NETWORK_PER_BUILD"
	if v, ok := rc.FeatureFlags[ff]; ok {
		return fmt.Sprintf("%v(feature_flags)", v)
	}
	val, found := "", false
	for _, e := range rc.Environment {
		if k, v, ok := strings.Cut(e, "="); ok && k == ff {
			val, found = v, true
		}
	}
	if found {
		return val + "(environment)"
	}
	return "unset"
}

func summary(r result) string {
	c := r.Config
	var b strings.Builder
	fmt.Fprintf(&b, "%s: OK runners=%d", r.Path, len(c.Runners))
	for _, rc := range c.Runners {
		if rc == nil {
			continue
		}
		image, services := "", 0
		if rc.Docker != nil {
			image, services = rc.Docker.Image, len(rc.Docker.Services)
		}
		fmt.Fprintf(&b, " [name=%q executor=%q image=%q services=%d FF_NETWORK_PER_BUILD=%s]",
			rc.Name, rc.Executor, image, services, ffNetworkPerBuild(rc))
	}
	return b.String()
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: gocheck [-v] [--strict] [--json] FILE...")
	fmt.Fprintln(os.Stderr, "  -v        one summary line per OK file")
	fmt.Fprintln(os.Stderr, "  --strict  undecoded (unknown) keys are failures, not just notes")
	fmt.Fprintln(os.Stderr, "  --json    print one JSON object per file on stdout (JSON Lines)")
	os.Exit(2)
}

func main() {
	var verbose, strict, asJSON bool
	var files []string
	onlyFiles := false
	for _, a := range os.Args[1:] {
		if onlyFiles || a == "-" || !strings.HasPrefix(a, "-") {
			files = append(files, a)
			continue
		}
		switch a {
		case "--":
			onlyFiles = true
		case "-v", "--verbose":
			verbose = true
		case "-strict", "--strict":
			strict = true
		case "-json", "--json":
			asJSON = true
		case "-h", "-help", "--help":
			usage()
		default:
			fmt.Fprintf(os.Stderr, "gocheck: unknown option %s\n", a)
			usage()
		}
	}
	if len(files) == 0 {
		usage()
	}

	// In --json mode stdout carries only JSON; human-readable lines go to stderr.
	human := os.Stdout
	if asJSON {
		human = os.Stderr
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetEscapeHTML(false)

	failed := 0
	for _, f := range files {
		r := check(f, strict)
		for _, e := range r.Errors {
			fmt.Fprintf(os.Stderr, "%s: %s\n", f, e)
		}
		for _, w := range r.Warnings {
			fmt.Fprintf(os.Stderr, "%s: warning: %s\n", f, w)
		}
		if !strict && len(r.Undecoded) > 0 {
			fmt.Fprintf(human, "%s: note: undecoded keys (ignored by the runner): %s\n",
				f, strings.Join(r.Undecoded, ", "))
		}
		if !r.OK {
			failed++
		} else if verbose {
			fmt.Fprintln(human, summary(r))
		}
		if asJSON {
			if err := enc.Encode(r); err != nil {
				fmt.Fprintf(os.Stderr, "%s: json: %v\n", f, err)
				failed++
			}
		}
	}
	if failed > 0 {
		os.Exit(1)
	}
}
