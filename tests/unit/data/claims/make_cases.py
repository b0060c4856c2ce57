#!/usr/bin/env python3
"""Write the claim test cases: valid/NAME.json + NAME.expect and
invalid/NAME.json + NAME.expect.  The expectations are written here by hand
(never produced by the C code), so tests/unit/test_claim.c checks the library
against the rules in docs/claims.md.  Re-run after editing:

    python3 tests/unit/data/claims/make_cases.py

.expect directives (one per line, value = rest of the line):
    key K            pass K as the object key
    source static    parse for the static-environments bucket
    canonical J      expected claim_canonical_json output (valid cases)
    hash H           expected claim_content_hash (valid cases)
    field F V        expected normalised top-level string field F
    service N KIND   expected service N with constraint kind KIND
    warning TEXT     expected warning, in order; warnings not listed fail
    error FIELD CODE expected field error, in order ("." = whole document)
"""
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))

SEED = {
    "user": "john.doe@company.com",
    "environment_pool": "team1",
    "creation_date": "2024-01-15T10:30:00Z",
    "environment_name": "dev-team1-feature-x",
    "environment_type": "dev",
    "expiration_date": None,
    "services": {
        "user-service": "v1.2.3",
        "auth-service": "v2.1.0",
        "api-gateway": "v1.0.5",
    },
}


def base(**kw):
    d = json.loads(json.dumps(SEED))
    for k, v in kw.items():
        if v is DROP:
            d.pop(k, None)
        else:
            d[k] = v
    return d


DROP = object()


def canon(d):
    return json.dumps(d, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def write(kind, name, doc, expect, raw=None):
    os.makedirs(os.path.join(HERE, kind), exist_ok=True)
    path = os.path.join(HERE, kind, name + ".json")
    if raw is None:
        raw = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    if isinstance(raw, str):
        raw = raw.encode("utf-8")
    with open(path, "wb") as f:
        f.write(raw)
    with open(os.path.join(HERE, kind, name + ".expect"), "w", encoding="utf-8") as f:
        f.write("\n".join(expect) + "\n")


def valid(name, doc, expect, raw=None):
    write("valid", name, doc, expect, raw)


def invalid(name, doc, errors, extra=(), raw=None):
    write("invalid", name, doc, list(extra) + ["error %s %s" % e for e in errors], raw)


def svc_obj(services):
    out = {}
    for k, v in services.items():
        out[k] = {"version": v} if isinstance(v, str) else v
    return out


def expected_canon(d, **over):
    """The canonical form of a claim whose values are already normal."""
    c = {k: v for k, v in d.items() if k in (
        "user", "environment_pool", "environment_name", "environment_type",
        "creation_date", "expiration_date", "services", "deployment_method",
        "git_repository", "branch")}
    c.setdefault("deployment_method", "platform")
    c.setdefault("expiration_date", None)
    c["services"] = svc_obj(c["services"])
    c.update(over)
    return canon(c)


# ---------------------------------------------------------------- valid

# The seed's "Environment Claims" example, verbatim.
seed_canon = expected_canon(SEED)
valid("seed_environment_claim", SEED, [
    "key dev-team1-feature-x.json",
    "canonical " + seed_canon,
    "field user john.doe@company.com",
    "field environment_type dev",
    "field expiration_date ",
    "field deployment_method platform",
    "service api-gateway tag", "service auth-service tag", "service user-service tag",
])
# The same claim, reordered and re-indented: same canonical form and hash.
valid("seed_environment_claim_reordered", None, [
    "key dev-team1-feature-x-claim.json",
    "canonical " + seed_canon,
], raw='{"services":{"api-gateway":"v1.0.5","user-service":{"version":"v1.2.3"},'
       '"auth-service":"v2.1.0"},"environment_type":"dev","expiration_date":null,\n\n'
       '   "environment_name":"dev-team1-feature-x","creation_date":"2024-01-15T10:30:00Z",'
       '"environment_pool":"team1","user":"john.doe@company.com"}')

# "Service Versioning": anchored tags, ^, pattern, range, latest.
d = base(environment_name="prod-main", environment_type="prod",
         services={"user-service": "v1.2.3", "auth-service": "v2.1.0", "api-gateway": "v1.0.5"})
valid("seed_versions_anchored", d, ["key prod-main.json", "canonical " + expected_canon(d),
                                     "service user-service tag"])
d = base(services={"user-service": "^1.0.0.0"})
valid("seed_versions_caret", d, ["key dev-team1-feature-x.json", "canonical " + expected_canon(d),
                                  "service user-service caret"])
d = base(services={"user-service": "1.x.x.x"})
valid("seed_versions_pattern", d, ["key dev-team1-feature-x.json", "canonical " + expected_canon(d),
                                    "service user-service pattern"])
d = base(environment_name="staging-qa", environment_type="staging",
         services={"user-service": ">=1.2.0, <2.0.0"})
valid("seed_versions_range_staging", d, ["key staging-qa.json", "canonical " + expected_canon(d),
                                          "service user-service range"])
d = base(environment_name="sue-experiment", environment_type="sue", services={"user-service": "*"})
valid("seed_versions_latest_sue", d, [
    "key sue-experiment.json",
    "canonical " + expected_canon(d, expiration_date="2024-01-16T10:30:00Z"),
    "field expiration_date 2024-01-16T10:30:00Z",
    "service user-service latest"])

# "Claim File Integration": a service in object form.
d = base(services={"user-service": {
    "version": "v1.2.3",
    "docker_image": "artifactory/docker-releases/user-service:v1.2.3",
    "ansible_artifact": "artifactory/oci-releases/user-service-ansible:v1.2.3"}})
valid("seed_claim_file_integration", d, ["key dev-team1-feature-x.json",
                                          "canonical " + expected_canon(d),
                                          "service user-service tag"])

# "Deployment Method Selection": the example plus the fields a claim needs,
# in the static (git-managed) bucket.
d = {"environment_name": "prod-main", "deployment_method": "git",
     "git_repository": "https://github.com/company/prod-environments", "branch": "main",
     "user": "gitlab-ci@company.com", "environment_pool": "core",
     "environment_type": "prod", "creation_date": "2024-01-15T10:30:00Z",
     "services": {"user-service": "v1.2.3"}}
valid("seed_deployment_method_git", d, ["key prod-main.json", "source static",
                                         "canonical " + expected_canon(d),
                                         "field deployment_method git",
                                         "field git_repository https://github.com/company/prod-environments",
                                         "field branch main"])
# Static bucket, deployment_method left out: defaults to git.
d2 = dict(d)
del d2["deployment_method"]
valid("static_default_git", d2, ["key prod-main-claim.json", "source static",
                                  "canonical " + expected_canon(d),
                                  "field deployment_method git"])
d3 = dict(d, git_repository="git@gitlab.company.com:platform/prod-environments.git")
del d3["branch"]
valid("static_git_scp_url_no_branch", d3, ["key prod-main.json", "source static",
                                            "canonical " + expected_canon(d3),
                                            "field branch "])

# "Creating New Environments" API payload, completed with the user and
# creation_date the Platform API adds (as-is it is in invalid/).
api = {"environment_name": "dev-team1-feature-x", "environment_type": "dev",
       "environment_pool": "team1",
       "services": {"user-service": "v1.2.3", "auth-service": "v2.1.0"}}
d = dict(api, user="john.doe@company.com", creation_date="2024-01-15T10:30:00Z")
valid("seed_api_payload_completed", d, ["key dev-team1-feature-x.json",
                                         "canonical " + expected_canon(d)])
# Local development mode: dev-snapshot tags and "latest".
d = base(environment_name="dev-johndoe", environment_pool="johndoe",
         services={"user-service": "dev-snapshot", "auth-service": "dev-snapshot"})
valid("seed_local_dev_snapshot", d, ["key dev-johndoe.json", "canonical " + expected_canon(d),
                                      "service auth-service tag", "service user-service tag"])
d = base(environment_name="dev-local", environment_pool="local",
         services={"user-service": "latest"})
valid("seed_dagger_payload_latest", d, ["key dev-local.json", "canonical " + expected_canon(d),
                                         "service user-service latest"])
# Environment type examples from "Environment Types".
for name, typ in [("dev-team1", "dev"), ("dev-feature-x", "dev"), ("dev-qa", "dev"),
                  ("staging-qa", "staging"), ("staging-uat", "staging"),
                  ("staging-demo", "staging"), ("prod-main", "prod"), ("prod-eu", "prod"),
                  ("prod-us", "prod"), ("sue-poc", "sue"), ("sue-vendor-eval", "sue"),
                  ("sue-experiment", "sue")]:
    d = base(environment_name=name, environment_type=typ)
    over = {"expiration_date": "2024-01-16T10:30:00Z"} if typ == "sue" else {}
    valid("seed_type_example_" + name, d, ["key %s.json" % name,
                                            "canonical " + expected_canon(d, **over)])

# Expiration rules.
d = base(environment_name="sue-poc", environment_type="sue",
         expiration_date="2024-01-20T00:00:00+01:00")
valid("sue_explicit_expiration", d, ["canonical " + expected_canon(
    d, expiration_date="2024-01-19T23:00:00Z")])
d = base(environment_name="sue-poc", environment_type="sue")
del d["expiration_date"]
valid("sue_absent_expiration", d, ["field expiration_date 2024-01-16T10:30:00Z"])
d = base(environment_name="sue-poc", environment_type="sue", expiration_date="")
valid("sue_empty_expiration", d, ["field expiration_date 2024-01-16T10:30:00Z"])
d = base(expiration_date="2030-01-01T00:00:00Z")
valid("dev_explicit_expiration", d, ["field expiration_date 2030-01-01T00:00:00Z"])
d = base(creation_date="2024-12-31T23:30:00Z", environment_name="sue-poc",
         environment_type="sue")
valid("sue_default_crosses_year", d, ["field expiration_date 2025-01-01T23:30:00Z"])

# Date normalisation.
for name, given, want in [
        ("date_offset_plus", "2024-01-15T12:30:00+02:00", "2024-01-15T10:30:00Z"),
        ("date_offset_minus", "2024-01-15T05:00:00-05:30", "2024-01-15T10:30:00Z"),
        ("date_offset_unknown", "2024-01-15T10:30:00-00:00", "2024-01-15T10:30:00Z"),
        ("date_lowercase_t_z", "2024-01-15t10:30:00z", "2024-01-15T10:30:00Z"),
        ("date_fraction_kept", "2024-01-15T10:30:00.500Z", "2024-01-15T10:30:00.5Z"),
        ("date_fraction_zero_dropped", "2024-01-15T10:30:00.000Z", "2024-01-15T10:30:00Z"),
        ("date_fraction_nanos", "2024-01-15T10:30:00.123456789Z", "2024-01-15T10:30:00.123456789Z"),
        ("date_crosses_year_back", "2024-01-01T00:30:00+01:00", "2023-12-31T23:30:00Z"),
        ("date_crosses_leap_day", "2024-03-01T01:00:00+02:00", "2024-02-29T23:00:00Z"),
        ("date_leap_day_2000", "2000-02-29T00:00:00Z", "2000-02-29T00:00:00Z")]:
    d = base(creation_date=given)
    valid(name, d, ["field creation_date " + want,
                    "canonical " + expected_canon(d, creation_date=want)])

# User normalisation.
for name, given, want in [
        ("user_trim_and_lower_domain", "  John.Doe@Company.COM \t", "John.Doe@company.com"),
        ("user_plus_tag", "john+envplane@company.co.uk", "john+envplane@company.co.uk"),
        ("user_utf8_local", "jürgen@company.de", "jürgen@company.de"),
        ("user_punycode_domain", "a@xn--bcher-kva.example", "a@xn--bcher-kva.example")]:
    d = base(user=given)
    valid(name, d, ["field user " + want, "canonical " + expected_canon(d, user=want)])

# Staging prefixes and the "stage" alias.
d = base(environment_name="stage-uat", environment_type="staging")
valid("staging_stage_prefix", d, ["key stage-uat.json", "canonical " + expected_canon(d)])
d = base(environment_name="staging-uat", environment_type="stage")
valid("staging_stage_alias", d, ["warning environment_type \"stage\" read as \"staging\"",
                                  "field environment_type staging",
                                  "canonical " + expected_canon(d, environment_type="staging")])

# Unknown fields are warnings.
d = base(owner_team="payments", labels={"a": 1})
d["services"] = {"user-service": {"version": "v1.2.3", "replicas": 3}}
valid("unknown_fields_warn", d, [
    "warning unknown field \"services.user-service.replicas\" ignored",
    "warning unknown field \"owner_team\" ignored",
    "warning unknown field \"labels\" ignored",
    "canonical " + expected_canon(base(services={"user-service": "v1.2.3"}))])
d = base(git_repository="https://github.com/company/x", branch="main")
valid("platform_with_git_fields_warns", d, [
    "warning git_repository is ignored unless deployment_method is \"git\"",
    "warning branch is ignored unless deployment_method is \"git\"",
    "field git_repository ", "field branch ",
    "canonical " + expected_canon(base())])

# Versions, one service each.
versions = [
    ("v1.2.3", "tag"), ("1.2.3", "tag"), ("v1.2.3.4", "tag"), ("1.2.3.4", "tag"),
    ("V2.0.0", "tag"), ("1", "tag"), ("v1.2", "tag"), ("1.2.3-rc.1", "tag"),
    ("1.2.3-rc.1+build.5", "tag"), ("1.2.3+20240115", "tag"), ("2024.01.15", "tag"),
    ("dev-snapshot", "tag"), ("20240115_abc", "tag"), ("Latest", "tag"), ("main", "tag"),
    ("x", "tag"), ("_private", "tag"), ("v", "tag"), ("1-", "tag"), ("1-alpine", "tag"), ("a" * 128, "tag"),
    ("^1.0.0.0", "caret"), ("^1", "caret"), ("^v1.2.3-beta", "caret"),
    ("~1.2.3", "tilde"), ("~1.2", "tilde"),
    ("1.x.x.x", "pattern"), ("1.2.*", "pattern"), ("1.X", "pattern"), ("v1.x", "pattern"),
    ("1.2.3.x", "pattern"),
    (">=1.2.0, <2.0.0", "range"), (">=1.2.0,<2.0.0", "range"), ("> 1.0.0", "range"),
    ("<=2.0.0", "range"), ("=1.2.3", "range"), ("!=1.5.0", "range"),
    (">=1.0.0, !=1.5.0, <2.0.0", "range"), (">=1.0.0, <=1.0.0", "range"),
    (">=1.0.0-rc.1, <1.0.0", "range"), (">=1.2.3.4, <1.2.3.5", "range"),
    ("*", "latest"), ("latest", "latest"), ("  v1.2.3  ", "tag"),
]
for i, (v, kind) in enumerate(versions):
    d = base(services={"svc": v})
    valid("version_%02d_%s" % (i, kind), d, [
        "service svc " + kind,
        "canonical " + expected_canon(d, services={"svc": {"version": v.strip()}})])

d = base(services={"svc-%03d" % i: "v1.0.%d" % i for i in range(256)})
valid("services_256", d, ["service svc-255 tag", "canonical " + expected_canon(d)])

# Byte order mark is ignored.
valid("bom_prefix", SEED, ["canonical " + seed_canon],
      raw=b"\xef\xbb\xbf" + json.dumps(SEED).encode())

# ---------------------------------------------------------------- invalid

invalid("not_json", None, [(".", "syntax")], raw="user: john\n")
invalid("empty_file", None, [(".", "syntax")], raw="")
invalid("trailing_garbage", None, [(".", "syntax")], raw=json.dumps(SEED) + "\n}")
invalid("two_objects", None, [(".", "syntax")], raw=json.dumps(SEED) + json.dumps(SEED))
invalid("top_array", None, [(".", "syntax")], raw="[" + json.dumps(SEED) + "]")
invalid("top_string", None, [(".", "syntax")], raw='  "dev-x"')
invalid("top_null", None, [(".", "syntax")], raw="null")
invalid("duplicate_key", None, [(".", "syntax")],
        raw='{"user":"a@b.c","user":"d@e.f"}')
invalid("duplicate_service", None, [(".", "syntax")],
        raw=json.dumps(SEED)[:-2] + ', "user-service": "v9"}}')
invalid("invalid_utf8", None, [(".", "syntax")],
        raw=json.dumps(SEED).encode().replace(b"team1", b"team\xff", 1))
invalid("embedded_nul_raw", None, [(".", "syntax")],
        raw=json.dumps(SEED).encode().replace(b"team1", b"team\x001", 1))
invalid("embedded_nul_escape", None, [(".", "syntax")],
        raw=json.dumps(SEED).replace("team1", "team\\u00001", 1))
invalid("too_deep", None, [(".", "syntax")],
        raw='{"x":' + "[" * 3000 + "]" * 3000 + "}")
big = base(padding="x" * (64 * 1024))
invalid("too_large", big, [(".", "too_large")])
invalid("unclosed", None, [(".", "syntax")], raw=json.dumps(SEED)[:-1])
invalid("single_quotes", None, [(".", "syntax")], raw="{'user': 'a@b.c'}")
invalid("comment", None, [(".", "syntax")], raw="// claim\n" + json.dumps(SEED))

# Everything missing at once.
invalid("empty_object", {}, [("user", "required"), ("environment_pool", "required"),
                             ("environment_name", "required"), ("environment_type", "required"),
                             ("creation_date", "required"), ("services", "required")])
# The API payload as the seed shows it has no user or creation date.
invalid("seed_api_payload_as_is", api, [("user", "required"), ("creation_date", "required")],
        extra=["key dev-team1-feature-x.json"])
invalid("seed_deployment_method_as_is",
        {"environment_name": "prod-main", "deployment_method": "git",
         "git_repository": "https://github.com/company/prod-environments", "branch": "main"},
        [("user", "required"), ("environment_pool", "required"), ("environment_type", "required"),
         ("creation_date", "required"), ("services", "required")],
        extra=["key prod-main.json", "source static"])
invalid("nulls_are_absent", base(user=None, environment_pool=None, environment_name=None,
                                 environment_type=None, creation_date=None, services=None),
        [("user", "required"), ("environment_pool", "required"),
         ("environment_name", "required"), ("environment_type", "required"),
         ("creation_date", "required"), ("services", "required")])
invalid("blank_strings", base(user="  ", environment_pool="", environment_name="",
                              environment_type="", creation_date=""),
        [("user", "required"), ("environment_pool", "required"),
         ("environment_name", "required"), ("environment_type", "required"),
         ("creation_date", "required")])

# Wrong JSON types.
invalid("types", base(user=42, environment_pool=["team1"], environment_name={"n": 1},
                      environment_type=True, creation_date=20240115, expiration_date=0,
                      services=["user-service"], deployment_method=False,
                      git_repository=1, branch=2.5),
        [("user", "type"), ("environment_pool", "type"), ("environment_name", "type"),
         ("environment_type", "type"), ("creation_date", "type"), ("expiration_date", "type"),
         ("services", "type"), ("deployment_method", "type"), ("git_repository", "type"),
         ("branch", "type")])
invalid("service_types", base(services={"a": 1, "b": ["v1"], "c": True, "d": None,
                                        "e": {"version": 1}, "f": {"version": "v1",
                                                                   "docker_image": 5}}),
        [("services.a", "type"), ("services.b", "type"), ("services.c", "type"),
         ("services.d", "type"), ("services.e.version", "type"),
         ("services.f.docker_image", "type")])

# user
for i, u in enumerate(["john.doe", "john@doe@company.com", "@company.com", "john@company",
                       "john doe@company.com", "john@com pany.com", "a" * 245 + "@company.com",
                       ".john@company.com", "john.@company.com", "jo..hn@company.com",
                       "john@-company.com", "john@company-.com", "john@company..com",
                       "john@.company.com", "john@company.com.", "john@", "jo\"hn@company.com",
                       "a" * 65 + "@company.com", "john@compa_ny.com"]):
    invalid("user_%02d" % i, base(user=u), [("user", "format")])

# environment_name / pool / type
for i, n in enumerate(["Dev-x", "dev_x", "dev-" + "x" * 60, "-dev-x", "dev-x-", "dev.x",
                       "dev x", "dév-x"]):
    invalid("name_format_%02d" % i, base(environment_name=n), [("environment_name", "format")])
invalid("name_ends_in_claim", base(environment_name="dev-x-claim"),
        [("environment_name", "value")])
for i, (n, t) in enumerate([("prod-x", "dev"), ("dev", "dev"), ("dev-x", "prod"),
                            ("sue-x", "staging"), ("dev-x", "sue"), ("staging-x", "prod"),
                            ("devx", "dev"), ("prodx", "prod")]):
    invalid("name_prefix_%02d" % i, base(environment_name=n, environment_type=t),
            [("environment_name", "mismatch")])
for i, t in enumerate(["Dev", "production", "DEV", "test", " dev"]):
    invalid("type_value_%02d" % i, base(environment_type=t), [("environment_type", "value")])
invalid("pool_format", base(environment_pool="Team_1"), [("environment_pool", "format")])

# Object key agreement.
for i, k in enumerate(["dev-other.json", "claims/dev-team1-feature-x.json",
                       "dev-team1-feature-x.yaml", "dev-team1-feature-x", "dev-team1-feature-x.JSON",
                       "dev-team1-feature-x-claim.json.bak", "Dev-team1-feature-x.json"]):
    invalid("key_mismatch_%02d" % i, SEED, [("environment_name", "mismatch")],
            extra=["key " + k])

# Dates
for i, c in enumerate(["2024-02-30T10:00:00Z", "2023-02-29T10:00:00Z", "1900-02-29T00:00:00Z",
                       "2024-01-15T24:00:00Z", "2024-01-15T10:60:00Z", "2024-12-31T23:59:60Z",
                       "2024-13-01T00:00:00Z", "2024-00-10T00:00:00Z", "2024-01-00T00:00:00Z",
                       "2024-01-15T10:30:00", "2024-01-15 10:30:00Z", "2024-01-15",
                       "2024-01-15T10:30:00.1234567891Z", "2024-01-15T10:30:00.Z",
                       "2024-01-15T10:30:00+24:00", "2024-01-15T10:30:00+0200",
                       "2024-01-15T10:30:00Z ", "15/01/2024", "0000-01-01T00:00:00Z",
                       "0001-01-01T00:30:00+01:00", "2024-1-15T10:30:00Z", "2024-01-15T10:30Z",
                       "9999-12-31T23:30:00-01:00"]):
    invalid("creation_date_%02d" % i, base(creation_date=c), [("creation_date", "format")])
invalid("expiration_before_creation", base(expiration_date="2024-01-15T10:29:59Z"),
        [("expiration_date", "value")])
invalid("expiration_equal_creation", base(expiration_date="2024-01-15T11:30:00+01:00"),
        [("expiration_date", "value")])
invalid("expiration_format", base(expiration_date="tomorrow"), [("expiration_date", "format")])
invalid("sue_default_past_9999", base(environment_name="sue-x", environment_type="sue",
                                      creation_date="9999-12-31T12:00:00Z"),
        [("expiration_date", "value")])

# Services
invalid("services_missing", base(services=DROP), [("services", "required")])
invalid("services_empty", base(services={}), [("services", "required")])
invalid("services_257", base(services={"s%03d" % i: "v1" for i in range(257)}),
        [("services", "too_large")])
invalid("service_name_format", base(services={"User_Service": "v1", "ok": "v1",
                                              "-x": "v1"}),
        [("services.-x", "format"), ("services.User_Service", "format")])
bad_versions = ["1..2", "1.x.y", ">=1.2.0,", "^", ">= abc", ">=2.0.0, <1.0.0", "1.2.3.4.5",
                "1.2.3-", "1.2.3+", "~", "x.x", "*.*", ">1.0.0, <1.0.0", "=1.0.0, !=1.0.0",
                "1.x.2", "1.2.x-rc", "feature/x", "a b", ">=1.0 || <0.5", ">=1.0 <2.0",
                "a" * 129, "1.", ".1", "^x", "~1.x", ">=1.0.0,,<2.0.0", "=>1.0.0",
                ">==1.0.0", "1.2.3-rc..1", "=1.0.0, =2.0.0", "99999999999999999999.0",
                "latest!", "*1", "^1.0.0.0.0", "!1.0.0", "1.2.3 4"]
for i, v in enumerate(bad_versions):
    invalid("version_bad_%02d" % i, base(services={"svc": v}), [("services.svc", "format")])
invalid("version_blank", base(services={"svc": "   "}), [("services.svc", "required")])
invalid("version_object_missing", base(services={"svc": {"docker_image": "r/s:v1"}}),
        [("services.svc.version", "required")])
invalid("version_object_bad", base(services={"svc": {"version": "1..2"}}),
        [("services.svc.version", "format")])
invalid("version_too_long", base(services={"svc": ">=1.0.0, " * 40 + "<2.0.0"}),
        [("services.svc", "too_large")])
invalid("version_too_many_comparators",
        base(services={"svc": ", ".join([">=1.0.%d" % i for i in range(9)])}),
        [("services.svc", "format")])
invalid("image_refs_bad", base(services={"svc": {
    "version": "v1", "docker_image": "registry/user service:v1",
    "ansible_artifact": "/oci/x:v1"}}),
        [("services.svc.docker_image", "format"), ("services.svc.ansible_artifact", "format")])
invalid("image_ref_too_long", base(services={"svc": {"version": "v1",
                                                     "docker_image": "r/" + "a" * 600}}),
        [("services.svc.docker_image", "too_large")])

# Deployment method
invalid("deployment_method_value", base(deployment_method="kubernetes"),
        [("deployment_method", "value")])
invalid("git_in_dynamic_bucket", base(deployment_method="git",
                                      git_repository="https://github.com/company/x"),
        [("deployment_method", "mismatch")])
invalid("platform_in_static_bucket", base(deployment_method="platform"),
        [("deployment_method", "mismatch")], extra=["source static"])
invalid("static_without_repository", base(), [("git_repository", "required")],
        extra=["source static"])
invalid("git_url_bad", base(deployment_method="git", git_repository="company/prod-envs"),
        [("git_repository", "format")], extra=["source static"])
invalid("git_url_space", base(deployment_method="git",
                              git_repository="https://github.com/company/prod envs"),
        [("git_repository", "format")], extra=["source static"])
for i, b in enumerate(["a..b", "-main", "main.lock", "feature/", "a b", "a~1", "a:b",
                       "a@{1}", "/main", "a//b", ".hidden", "a/.b", "x" * 256]):
    invalid("branch_bad_%02d" % i, base(deployment_method="git",
                                        git_repository="https://github.com/c/x", branch=b),
            [("branch", "format")], extra=["source static"])

# Many errors at once: every one is reported, in field order.
kitchen = {
    "user": "not-an-email",
    "environment_pool": "Team 1",
    "environment_name": "prod-x",
    "environment_type": "dev",
    "creation_date": "2024-02-30T10:00:00Z",
    "expiration_date": "soon",
    "services": {"good": "v1.2.3", "Bad_Name": "v1", "range": ">=2.0.0, <1.0.0",
                 "typo": "1..2", "obj": {"docker_image": "x y"}, "num": 7},
    "deployment_method": "ftp",
    "branch": "a..b",
    "extra": True,
}
invalid("many_errors", kitchen, [
    ("user", "format"), ("environment_pool", "format"), ("environment_name", "mismatch"),
    ("creation_date", "format"), ("expiration_date", "format"),
    ("services.Bad_Name", "format"), ("services.num", "type"),
    ("services.obj.version", "required"), ("services.obj.docker_image", "format"),
    ("services.range", "format"), ("services.typo", "format"),
    ("deployment_method", "value"), ("branch", "format")],
    extra=["key other.json",
           "warning branch is ignored unless deployment_method is \"git\"",
           "warning unknown field \"extra\" ignored"])

# More errors than the cap: 99 reported, then one "N more" entry.
d = base(services={"s%03d" % i: "1..%d" % i for i in range(150)})
invalid("errors_capped", d, [("services.s%03d" % i, "format") for i in range(99)] +
        [(".", "too_large")])
