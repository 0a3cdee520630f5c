#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "hub/sha1.h"
#include "hub/sha256.h"

namespace vcap::hub {
namespace {

// FIPS 180-4 example vectors (NIST "Cryptographic Standards and Guidelines: Examples").
constexpr std::string_view kTwoBlockMessage =
    "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";

TEST(Sha256, MatchesFipsVectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex(kTwoBlockMessage),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(sha256_hex(std::string(1000000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256, StreamingInAnyPiecesGivesTheSameDigest) {
  std::string message;
  for (int i = 0; i < 1000; ++i) message.push_back(static_cast<char>(i * 31 + 7));
  const std::string whole = sha256_hex(message);
  for (size_t piece : {1u, 3u, 55u, 56u, 63u, 64u, 65u, 200u}) {
    Sha256 hasher;
    for (size_t at = 0; at < message.size(); at += piece) {
      hasher.update(std::string_view(message).substr(at, piece));
    }
    EXPECT_EQ(to_hex(hasher.finish()), whole) << "piece " << piece;
  }
}

TEST(Sha256, PaddingBoundariesAroundOneBlock) {
  // 55, 56 and 64 bytes straddle the point where the length needs a second block.
  EXPECT_EQ(sha256_hex(std::string(55, 'a')),
            "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318");
  EXPECT_EQ(sha256_hex(std::string(56, 'a')),
            "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a");
  EXPECT_EQ(sha256_hex(std::string(64, 'a')),
            "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb");
}

TEST(Sha1, MatchesFipsVectors) {
  EXPECT_EQ(sha1_hex(""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
  EXPECT_EQ(sha1_hex("abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
  EXPECT_EQ(sha1_hex(kTwoBlockMessage), "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
  EXPECT_EQ(sha1_hex(std::string(1000000, 'a')), "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
}

class HashFile : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ("vcap_sha_" +
            std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::filesystem::path write(const std::string& name, const std::string& bytes) {
    const auto path = dir_ / name;
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
  }

  std::filesystem::path dir_;
};

TEST_F(HashFile, FileDigestEqualsStringDigestAcrossChunks) {
  // Larger than one 1 MiB read chunk, so the chunk loop is exercised.
  std::string bytes(3 * 1024 * 1024 + 17, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i % 251);
  const auto digest = sha256_file_hex(write("big.bin", bytes));
  ASSERT_TRUE(digest.ok()) << digest.status().to_string();
  EXPECT_EQ(*digest, sha256_hex(bytes));
}

TEST_F(HashFile, GitBlobIdMatchesGitHashObject) {
  // `printf 'hello\n' | git hash-object --stdin` and the empty blob.
  auto hello = git_blob_id_of_file(write("hello.txt", "hello\n"));
  ASSERT_TRUE(hello.ok()) << hello.status().to_string();
  EXPECT_EQ(*hello, "ce013625030ba8dba906f756967f9e9ca394464a");
  auto empty = git_blob_id_of_file(write("empty.txt", ""));
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(*empty, "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");
}

TEST_F(HashFile, MissingFileIsNotFoundNamingThePath) {
  const auto digest = sha256_file_hex(dir_ / "absent.bin");
  ASSERT_FALSE(digest.ok());
  EXPECT_EQ(digest.status().code(), StatusCode::kNotFound);
  EXPECT_NE(digest.status().message().find("absent.bin"), std::string::npos);
  EXPECT_FALSE(git_blob_id_of_file(dir_ / "absent.bin").ok());
}

}  // namespace
}  // namespace vcap::hub
