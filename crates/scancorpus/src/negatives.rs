//! Hard negatives: text that looks like secrets or personal data and is neither. UUIDs,
//! digests, base64 blobs, lock files, minified JS, placeholders, documented example keys,
//! version strings, reserved IP addresses, Luhn-invalid numbers, never-issued SSNs, IBANs
//! failing mod-97, documentation e-mail domains, timestamps, and code that handles secrets
//! without containing one.

use crate::codec::base64;
use crate::contexts::timestamp;
use crate::prng::{BASE62, DIGITS, HEX, LOWER, LOWER_DIGITS, Rng};
use crate::values::{self, capitalized, sha1, sha256, uuid, word};

/// The kinds of negative file, each a generator of one file (relative name, text).
pub const KINDS: &[&str] = &[
    "uuids",
    "digests",
    "base64-blobs",
    "lockfiles",
    "minified-js",
    "placeholders",
    "documented-examples",
    "versions",
    "reserved-ips",
    "numbers",
    "example-emails",
    "code-refs",
    "ml-config",
    "hex-ids",
];

/// The `index`-th file of a kind; variants of a kind cycle with `index`, so every variant is
/// present once a kind has as many files as variants.
pub fn file(rng: &mut Rng, kind: &str, index: usize) -> (String, String) {
    let w = word(rng);
    let n = rng.range(15, 40);
    let mut t = String::new();
    let name = match kind {
        "uuids" => {
            t.push_str("[\n");
            for i in 0..n {
                t.push_str(&format!(
                    "  {{\"id\": \"{}\", \"order_id\": \"{}\", \"tenant\": \"{}\", \"created_at\": \"{}\"}}{}\n",
                    uuid(rng),
                    uuid(rng),
                    uuid(rng).to_ascii_uppercase(),
                    timestamp(rng),
                    if i + 1 < n { "," } else { "" }
                ));
            }
            t.push_str("]\n");
            format!("data/{w}-ids.json")
        }
        "digests" => match index % 3 {
            0 => {
                for _ in 0..n {
                    t.push_str(&format!(
                        "{}  dist/{w}-{}.{}.{}.tar.gz\n",
                        sha256(rng),
                        rng.range(0, 9),
                        rng.range(0, 30),
                        rng.range(0, 9)
                    ));
                }
                "SHA256SUMS".to_owned()
            }
            1 => {
                for _ in 0..n {
                    t.push_str(&format!("commit {}\nMerge: {} {}\nDate:   Tue Mar 12 10:{:02}:00 2024 +0100\n\n    Fix {w} retry handling\n\n", sha1(rng), &sha1(rng)[..7], &sha1(rng)[..7], rng.range(0, 59)));
                }
                "docs/git-log.txt".to_owned()
            }
            _ => {
                t.push_str("\"\"\"Pinned artefacts.\"\"\"\n\nARTIFACTS = {\n");
                for _ in 0..n {
                    t.push_str(&format!(
                        "    \"{w}-{}\": (\"sha256\", \"{}\"),\n",
                        rng.range(1, 99),
                        sha256(rng)
                    ));
                }
                t.push_str(&format!(
                    "}}\nBASE_IMAGE = \"python@sha256:{}\"\nGIT_REV = \"{}\"\n",
                    sha256(rng),
                    sha1(rng)
                ));
                format!("build/pins_{w}.py")
            }
        },
        "base64-blobs" => {
            match index % 4 {
                0 => {
                    for i in 0..n {
                        let n = rng.range(60, 400);
                        t.push_str(&format!(".icon-{i} {{ background: url(data:image/png;base64,{}) no-repeat; }}\n", base64(&rng.bytes(n), false, true)));
                    }
                    format!("static/{w}.css")
                }
                1 => {
                    for _ in 0..n / 4 + 1 {
                        let body = base64(&rng.bytes_between(700, 1100), false, true);
                        let label = rng.pick(&["CERTIFICATE", "PUBLIC KEY", "CERTIFICATE REQUEST"]);
                        t.push_str(&format!("-----BEGIN {label}-----\n"));
                        for c in body.as_bytes().chunks(64) {
                            t.push_str(std::str::from_utf8(c).expect("ASCII"));
                            t.push('\n');
                        }
                        t.push_str(&format!("-----END {label}-----\n"));
                    }
                    format!("certs/{w}-chain.pem")
                }
                2 => {
                    for _ in 0..n {
                        let mut key = b"\x00\x00\x00\x07ssh-rsa\x00\x00\x00\x03\x01\x00\x01\x00\x00\x01\x01\x00".to_vec();
                        key.extend(rng.bytes(256));
                        t.push_str(&format!(
                            "ssh-rsa {} deploy@ci-runner-{:02}\n",
                            base64(&key, false, true),
                            rng.range(1, 40)
                        ));
                    }
                    "deploy/authorized_keys".to_owned()
                }
                _ => {
                    t.push_str("{\n  \"attachments\": [\n");
                    for i in 0..n {
                        let len = rng.range(100, 600);
                        t.push_str(&format!(
                            "    {{\"name\": \"scan-{i}.png\", \"content\": \"{}\"}}{}\n",
                            base64(&rng.bytes(len), false, true),
                            if i + 1 < n { "," } else { "" }
                        ));
                    }
                    t.push_str("  ]\n}\n");
                    format!("fixtures/{w}-attachments.json")
                }
            }
        }
        "lockfiles" => match index % 4 {
            0 => {
                t.push_str(&format!(
                    "{{\n  \"name\": \"{w}\",\n  \"lockfileVersion\": 3,\n  \"packages\": {{\n"
                ));
                for i in 0..n {
                    let pkg = format!(
                        "{}{}",
                        values::lower_ident_between(rng, 3, 8),
                        rng.pick(&["", "-js", "-utils", "ify"])
                    );
                    let ver = format!(
                        "{}.{}.{}",
                        rng.range(0, 12),
                        rng.range(0, 30),
                        rng.range(0, 20)
                    );
                    t.push_str(&format!(
                        "    \"node_modules/{pkg}\": {{\n      \"version\": \"{ver}\",\n      \"resolved\": \"https://registry.npmjs.org/{pkg}/-/{pkg}-{ver}.tgz\",\n      \"integrity\": \"sha512-{}\",\n      \"license\": \"MIT\"\n    }}{}\n",
                        base64(&rng.bytes(64), false, true),
                        if i + 1 < n { "," } else { "" }
                    ));
                }
                t.push_str("  }\n}\n");
                "package-lock.json".to_owned()
            }
            1 => {
                t.push_str("# This file is automatically @generated by Cargo.\n# It is not intended for manual editing.\nversion = 4\n\n");
                for _ in 0..n {
                    t.push_str(&format!(
                        "[[package]]\nname = \"{}\"\nversion = \"{}.{}.{}\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\nchecksum = \"{}\"\n\n",
                        values::lower_ident_between(rng, 3, 10),
                        rng.range(0, 3),
                        rng.range(0, 40),
                        rng.range(0, 30),
                        sha256(rng)
                    ));
                }
                "Cargo.lock".to_owned()
            }
            2 => {
                for _ in 0..n {
                    let pkg = values::lower_ident_between(rng, 3, 10);
                    let ver = format!(
                        "{}.{}.{}",
                        rng.range(0, 9),
                        rng.range(0, 30),
                        rng.range(0, 20)
                    );
                    t.push_str(&format!(
                        "[[package]]\nname = \"{pkg}\"\nversion = \"{ver}\"\ndescription = \"{} helpers\"\noptional = false\npython-versions = \">=3.8\"\nfiles = [\n    {{file = \"{pkg}-{ver}-py3-none-any.whl\", hash = \"sha256:{}\"}},\n    {{file = \"{pkg}-{ver}.tar.gz\", hash = \"sha256:{}\"}},\n]\n\n",
                        capitalized(word(rng)),
                        sha256(rng),
                        sha256(rng)
                    ));
                }
                "poetry.lock".to_owned()
            }
            _ => {
                for _ in 0..n {
                    let m = format!(
                        "github.com/{}/{}",
                        values::lower_ident(rng, 6),
                        values::lower_ident(rng, 5)
                    );
                    let v = format!(
                        "v{}.{}.{}",
                        rng.range(0, 2),
                        rng.range(0, 30),
                        rng.range(0, 20)
                    );
                    t.push_str(&format!(
                        "{m} {v} h1:{}\n{m} {v}/go.mod h1:{}\n",
                        base64(&rng.bytes(32), false, true),
                        base64(&rng.bytes(32), false, true)
                    ));
                }
                "go.sum".to_owned()
            }
        },
        "minified-js" => {
            let mut line = String::from("!function(e,t){\"use strict\";");
            for _ in 0..n * 6 {
                let a = values::lower_ident(rng, 1);
                let b = values::lower_ident(rng, 1);
                line.push_str(match rng.below(6) {
                    0 => "var ",
                    1 => "function ",
                    2 => "return ",
                    _ => "",
                });
                line.push_str(&match rng.below(7) {
                    0 => format!("{a}=function({b}){{return {b}.token||\"\"}};"),
                    1 => format!("{a}.headers.Authorization=\"Bearer \"+{b}.accessToken;"),
                    2 => format!(
                        "{a}[\"{}\"]=\"{}\";",
                        rng.string(BASE62, 6),
                        rng.string_between(BASE62, 16, 40)
                    ),
                    3 => format!("{a}=/^[a-zA-Z0-9_-]{{{},}}$/.test({b});", rng.range(8, 40)),
                    4 => format!("if({a}.password!=={b}.password)throw new Error(\"mismatch\");"),
                    5 => format!(
                        "{a}.version=\"{}.{}.{}\";",
                        rng.range(0, 9),
                        rng.range(0, 20),
                        rng.range(0, 20)
                    ),
                    _ => format!("{a}({b},{},{});", rng.range(0, 9999), rng.range(0, 99)),
                });
            }
            line.push_str("}(window);\n");
            t.push_str(&line);
            format!("static/js/{w}.{}.min.js", rng.string(HEX, 8))
        }
        "placeholders" => {
            let lines: &[&str] = &[
                "AWS_ACCESS_KEY_ID=AKIAXXXXXXXXXXXXXXXX",
                "AWS_SECRET_ACCESS_KEY=<your-secret-access-key>",
                "GITHUB_TOKEN=ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
                "GITHUB_TOKEN=${{ secrets.GITHUB_TOKEN }}",
                "GITLAB_TOKEN=glpat-xxxxxxxxxxxxxxxxxxxx",
                "OPENAI_API_KEY=sk-...",
                "OPENAI_API_KEY=your-openai-api-key-here",
                "ANTHROPIC_API_KEY=sk-ant-api03-...",
                "STRIPE_SECRET_KEY=sk_test_xxxxxxxxxxxxxxxxxxxxxxxx",
                "SLACK_BOT_TOKEN=xoxb-your-bot-token",
                "SLACK_WEBHOOK_URL=https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX",
                "GOOGLE_API_KEY=YOUR_API_KEY",
                "SENDGRID_API_KEY=SG.xxxxxxxxxxxxxxxxxxxxxx.xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
                "HF_TOKEN=hf_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
                "//registry.npmjs.org/:_authToken=${NPM_TOKEN}",
                "TWINE_PASSWORD=pypi-<token>",
                "DATABASE_URL=postgres://${DB_USER}:${DB_PASSWORD}@${DB_HOST}:5432/app",
                "MONGO_URI=mongodb+srv://<username>:<password>@cluster0.example.mongodb.net/",
                "REDIS_URL=redis://:changeme@localhost:6379/0",
                "DB_PASSWORD=changeme",
                "api_key = \"your-api-key-here\"",
                "password = \"<password>\"",
                "password: \"${DB_PASSWORD}\"",
                "secret_key: \"{{ .Values.app.secretKey }}\"",
                "sql_password = \"%(db_password)s\"",
                "token = \"xxxxxxxxxxxxxxxxxxxxxxxx\"",
                "client_secret = \"REPLACE_ME_WITH_REAL_SECRET\"",
                "admin_password = \"********\"",
                "auth_token = \"dummy-token-for-tests\"",
                "password = \"password123\"",
                "password = \"hunter2\"",
                "api_key = os.environ[\"OPENAI_API_KEY\"]",
                "const apiKey = process.env.STRIPE_SECRET_KEY;",
                "token := os.Getenv(\"GITHUB_TOKEN\")",
                "Authorization: Bearer <token>",
                "curl -H \"Authorization: Bearer $API_TOKEN\" https://api.internal.acme.io/v1/status",
                "AZURE_STORAGE_CONNECTION_STRING=DefaultEndpointsProtocol=https;AccountName=<account>;AccountKey=<your-account-key>;EndpointSuffix=core.windows.net",
                "PRIVATE_KEY=\"-----BEGIN PRIVATE KEY-----\\n...\\n-----END PRIVATE KEY-----\"",
            ];
            t.push_str("# Copy to .env and fill in real values.\n");
            for _ in 0..n {
                t.push_str(rng.pick(lines));
                t.push('\n');
            }
            rng.pick(&[
                ".env.example",
                "config/settings.example.yaml",
                "docs/configuration.md",
                "sample.env",
            ])
            .to_string()
        }
        "documented-examples" => {
            match index % 3 {
                0 => t.push_str("[default]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\nregion = us-west-2\n"),
                1 => t.push_str("import boto3\n\n# Example from the AWS documentation.\nclient = boto3.client(\n    \"s3\",\n    aws_access_key_id=\"AKIAIOSFODNN7EXAMPLE\",\n    aws_secret_access_key=\"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\",\n)\n"),
                _ => t.push_str("services:\n  azurite:\n    image: mcr.microsoft.com/azure-storage/azurite\n  app:\n    environment:\n      - AZURE_STORAGE_CONNECTION_STRING=DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;BlobEndpoint=http://azurite:10000/devstoreaccount1;\n"),
            }
            rng.pick(&[
                "docs/aws-setup.md",
                "examples/s3_upload.py",
                "docker-compose.dev.yml",
            ])
            .to_string()
        }
        "versions" => match index % 4 {
            0 => {
                for _ in 0..n {
                    t.push_str(&format!(
                        "{}=={}.{}.{}\n",
                        values::lower_ident_between(rng, 4, 10),
                        rng.range(0, 5),
                        rng.range(0, 40),
                        rng.range(0, 20)
                    ));
                }
                "requirements.txt".to_owned()
            }
            1 => {
                let (a, b, c) = (rng.range(1, 9), rng.range(0, 9), rng.range(0, 99));
                t.push_str(&format!("using System.Reflection;\n\n[assembly: AssemblyTitle(\"{}\")]\n[assembly: AssemblyVersion(\"{a}.{b}.0.0\")]\n[assembly: AssemblyFileVersion(\"{a}.{b}.{c}.0\")]\n[assembly: AssemblyInformationalVersion(\"{a}.{b}.{c}\")]\n", capitalized(w)));
                "Properties/AssemblyInfo.cs".to_owned()
            }
            2 => {
                t.push_str(&format!("{{\n  \"name\": \"@acme/{w}\",\n  \"version\": \"{}.{}.{}\",\n  \"dependencies\": {{\n", rng.range(0, 9), rng.range(0, 30), rng.range(0, 9)));
                for i in 0..n {
                    t.push_str(&format!(
                        "    \"{}\": \"^{}.{}.{}\"{}\n",
                        values::lower_ident_between(rng, 3, 9),
                        rng.range(0, 20),
                        rng.range(0, 30),
                        rng.range(0, 20),
                        if i + 1 < n { "," } else { "" }
                    ));
                }
                t.push_str("  }\n}\n");
                "package.json".to_owned()
            }
            _ => {
                t.push_str(&format!("__version__ = \"{}.{}.{}\"\nMIN_SERVER_VERSION = \"{}.{}\"\nBUILD = \"{}.{}.{}-rc.{}+{}\"\n", rng.range(0, 9), rng.range(0, 40), rng.range(0, 20), rng.range(1, 20), rng.range(0, 9), rng.range(0, 9), rng.range(0, 40), rng.range(0, 20), rng.range(1, 9), rng.string(HEX, 7)));
                format!("{w}/_version.py")
            }
        },
        "reserved-ips" => match index % 3 {
            0 => {
                t.push_str(&format!("upstream {w} {{\n"));
                for _ in 0..n / 3 + 1 {
                    t.push_str(&format!(
                        "    server {}:{};\n",
                        values::reserved_ipv4(rng),
                        rng.range(3000, 9000)
                    ));
                }
                t.push_str(&format!("}}\n\nserver {{\n    listen 0.0.0.0:80;\n    set_real_ip_from {};\n    allow 10.0.0.0/8;\n    allow 192.168.0.0/16;\n    deny all;\n    location /metadata {{ proxy_pass http://169.254.169.254/latest/meta-data/; }}\n}}\n", values::reserved_ipv4(rng)));
                format!("deploy/nginx/{w}.conf")
            }
            1 => {
                t.push_str("127.0.0.1 localhost\n::1 localhost ip6-localhost\n");
                for _ in 0..n / 2 {
                    t.push_str(&format!(
                        "{} {w}-{}.internal\n",
                        values::reserved_ipv4(rng),
                        rng.range(1, 40)
                    ));
                }
                "deploy/hosts".to_owned()
            }
            _ => {
                for _ in 0..n {
                    t.push_str(&format!(
                        "{} - - [{:02}/Mar/2024:{:02}:{:02}:{:02} +0000] \"GET /healthz HTTP/1.1\" 200 2 \"-\" \"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{}.0.0.0 Safari/537.36\"\n",
                        values::reserved_ipv4(rng),
                        rng.range(1, 28),
                        rng.range(0, 23),
                        rng.range(0, 59),
                        rng.range(0, 59),
                        rng.range(118, 131)
                    ));
                }
                "logs/internal-access.log".to_owned()
            }
        },
        "numbers" => {
            t.push_str("order_ref,tracking,tax_id,account,created_at,epoch_ms\n");
            for _ in 0..n {
                t.push_str(&format!(
                    "{},1Z{}{},{},{},{},{}\n",
                    values::luhn_invalid_16(rng),
                    rng.string(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", 6),
                    rng.string(DIGITS, 10),
                    values::invalid_ssn(rng),
                    values::invalid_iban(rng),
                    timestamp(rng),
                    1_700_000_000_000u64 + rng.below(60_000_000_000)
                ));
            }
            format!("reports/{w}-reconciliation.csv")
        }
        "example-emails" => {
            for _ in 0..n {
                let user = format!("{}.{}", values::first_name(rng), values::last_name(rng));
                t.push_str(&match rng.below(5) {
                    0 => format!(
                        "    \"author\": \"{} <{user}@example.com>\",\n",
                        capitalized(values::first_name(rng))
                    ),
                    1 => format!("# Contact: support@example.org or {user}@example.net\n"),
                    2 => format!("git clone git@github.com:acme/{w}.git\n"),
                    3 => format!(
                        "assert send_invite(\"{user}@{}\")\n",
                        rng.pick(&["example.com", "test.example", "acme.test", "mail.invalid"])
                    ),
                    _ => format!("url = \"ssh://git@gitlab.com/acme/{w}.git\"\n"),
                });
            }
            rng.pick(&[
                "tests/test_invites.py",
                "CONTRIBUTING.md",
                "docs/examples.md",
            ])
            .to_string()
        }
        "code-refs" => {
            let lines: &[&str] = &[
                "    password = request.form[\"password\"]",
                "    password = getpass.getpass(\"Password: \")",
                "    token = self._get_token()",
                "    if api_key is None:",
                "        raise ValueError(\"api_key is required\")",
                "    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt())",
                "    secret = secrets.token_urlsafe(32)",
                "    validate_password(password, user=user)",
                "TOKEN_TYPE = \"Bearer\"",
                "token_url = \"https://oauth2.googleapis.com/token\"",
                "TOKEN_ENDPOINT = \"https://login.microsoftonline.com/common/oauth2/v2.0/token\"",
                "secret_name = \"prod/db\"",
                "secret_arn = \"arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf\"",
                "        'password' => 'required|string|min:8|confirmed',",
                "    PASSWORD_RESET_TIMEOUT = 3600",
                "    password_field = \"password\"",
                "    api_key_header = \"X-API-Key\"",
                "const token = await getAccessToken(clientId, scopes);",
                "    let secret = std::env::var(\"APP_SECRET\")?;",
                "export GITHUB_TOKEN=$(gh auth token)",
            ];
            t.push_str(&format!("# {w}: credential handling\n"));
            for _ in 0..n {
                t.push_str(rng.pick(lines));
                t.push('\n');
            }
            format!("src/{w}/auth_{}.py", values::lower_ident(rng, 4))
        }
        "ml-config" => {
            let class = rng.pick(&[
                "LlamaTokenizerFast",
                "GPT2Tokenizer",
                "BertTokenizerFast",
                "T5TokenizerFast",
                "PreTrainedTokenizerFast",
            ]);
            t.push_str(&format!(
                "{{\n  \"add_bos_token\": true,\n  \"bos_token\": \"<s>\",\n  \"eos_token\": \"</s>\",\n  \"pad_token\": \"<pad>\",\n  \"unk_token\": \"<unk>\",\n  \"model_max_length\": {},\n  \"tokenizer_class\": \"{class}\",\n  \"tokenizer_file\": \"tokenizer.json\",\n  \"clean_up_tokenization_spaces\": false\n}}\n",
                rng.pick(&[512, 2048, 4096, 8192])
            ));
            format!("models/{w}-{}/tokenizer_config.json", rng.range(1, 70))
        }
        _ => {
            for _ in 0..n {
                t.push_str(&match rng.below(5) {
                    0 => format!("  --{w}-color: #{};\n", rng.string(HEX, 6)),
                    1 => format!("X-Request-Id: {}\n", rng.string(HEX, 32)),
                    2 => format!("ETag: \"{}\"\n", rng.string(HEX, 40)),
                    3 => format!("wallet = \"0x{}\"\n", rng.string(HEX, 40)),
                    _ => format!(
                        "cache_key = \"{w}:{}:{}\"\n",
                        rng.string(LOWER_DIGITS, 12),
                        rng.string(LOWER, 8)
                    ),
                });
            }
            format!("misc/{w}-ids.txt")
        }
    };
    (name, t)
}
