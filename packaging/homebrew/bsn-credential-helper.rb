# Homebrew formula for bsn-credential-helper: builds from the tagged source archive.
# Lives in the tap repository bsn-credential-helper/homebrew-tap as Formula/bsn-credential-helper.rb;
# packaging/update-recipes.sh fills in the version and the source archive's sha256 at release time.
class BsnCredentialHelper < Formula
  desc "BSN.cloud (BrightSign) API access tokens from a shared, file-locked cache"
  homepage "https://github.com/bsn-credential-helper/bsn-credential-helper"
  url "https://github.com/bsn-credential-helper/bsn-credential-helper/archive/refs/tags/v0.1.0.tar.gz"
  sha256 "0000000000000000000000000000000000000000000000000000000000000000"
  license any_of: ["MIT", "Apache-2.0"]
  head "https://github.com/bsn-credential-helper/bsn-credential-helper.git", branch: "main"

  depends_on "rust" => :build

  def install
    # A tag archive has no .git, so tell build.rs what `--version` should name.
    ENV["BSN_BUILD_COMMIT"] = "v#{version}" unless build.head?
    system "cargo", "install", *std_cargo_args

    # One binary, four names: it dispatches on argv[0], which a symlink preserves.
    bin.install_symlink bin/"bsn-credential-helper" => "git-credential-bsn"
    bin.install_symlink bin/"bsn-credential-helper" => "docker-credential-bsn"
    bin.install_symlink bin/"bsn-credential-helper" => "bazel-credential-bsn"

    (man1/"bsn-credential-helper.1").write Utils.safe_popen_read(bin/"bsn-credential-helper", "manpage")
    # Runs `bsn-credential-helper completions bash|zsh|fish`.
    generate_completions_from_executable(bin/"bsn-credential-helper", "completions")

    doc.install "README.md" if File.exist?("README.md")
    doc.install "protocol.md" if File.exist?("protocol.md")
  end

  test do
    assert_match version.to_s, shell_output("#{bin}/bsn-credential-helper --version")
    assert_match ".TH", shell_output("#{bin}/bsn-credential-helper manpage")
    assert_path_exists bin/"git-credential-bsn"
    assert_path_exists bin/"docker-credential-bsn"
    assert_path_exists bin/"bazel-credential-bsn"
  end
end
