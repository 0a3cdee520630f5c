#include "pipeline/shard.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <utility>

namespace vcap::pipeline {
namespace {

EnvLookup env_of(std::map<std::string, std::string> values) {
  return [values](const char* name) -> std::optional<std::string> {
    auto it = values.find(name);
    if (it == values.end()) return std::nullopt;
    return it->second;
  };
}

TEST(Shard, DefaultsToRankZeroOfOne) {
  Result<Shard> shard = resolve_shard(std::nullopt, std::nullopt, env_of({}));
  ASSERT_TRUE(shard.ok());
  EXPECT_EQ(shard->rank, 0);
  EXPECT_EQ(shard->world_size, 1);
  EXPECT_EQ(shard->source, "default");
}

TEST(Shard, FlagsWinOverTheEnvironment) {
  Result<Shard> shard = resolve_shard(2, 3, env_of({{"RANK", "0"}, {"WORLD_SIZE", "8"}}));
  ASSERT_TRUE(shard.ok());
  EXPECT_EQ(shard->rank, 2);
  EXPECT_EQ(shard->world_size, 3);
  EXPECT_EQ(shard->source, "flags");
}

TEST(Shard, LauncherPrecedenceIsTorchrunThenOpenMpiThenPmiThenSlurm) {
  const std::map<std::string, std::string> all = {{"RANK", "1"},
                                                  {"WORLD_SIZE", "8"},
                                                  {"OMPI_COMM_WORLD_RANK", "2"},
                                                  {"OMPI_COMM_WORLD_SIZE", "4"},
                                                  {"PMI_RANK", "3"},
                                                  {"PMI_SIZE", "5"},
                                                  {"SLURM_PROCID", "0"},
                                                  {"SLURM_STEP_NUM_TASKS", "2"}};
  Result<Shard> shard = resolve_shard(std::nullopt, std::nullopt, env_of(all));
  ASSERT_TRUE(shard.ok());
  EXPECT_EQ(shard->source, "torchrun");
  EXPECT_EQ(shard->rank, 1);

  auto without = [&](std::initializer_list<const char*> names) {
    auto copy = all;
    for (const char* name : names) copy.erase(name);
    return resolve_shard(std::nullopt, std::nullopt, env_of(copy));
  };
  EXPECT_EQ(without({"RANK", "WORLD_SIZE"})->source, "openmpi");
  EXPECT_EQ(without({"RANK", "WORLD_SIZE", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"})->source,
            "pmi");
  Result<Shard> slurm = without({"RANK", "WORLD_SIZE", "OMPI_COMM_WORLD_RANK",
                                 "OMPI_COMM_WORLD_SIZE", "PMI_RANK", "PMI_SIZE"});
  EXPECT_EQ(slurm->source, "slurm");
  EXPECT_EQ(slurm->world_size, 2);
}

TEST(Shard, HalfAPairIsAnError) {
  Result<Shard> shard = resolve_shard(std::nullopt, std::nullopt, env_of({{"RANK", "1"}}));
  ASSERT_FALSE(shard.ok());
  EXPECT_NE(shard.status().message().find("WORLD_SIZE"), std::string::npos);
  EXPECT_FALSE(resolve_shard(1, std::nullopt, env_of({})).ok());
}

TEST(Shard, NonNumbersAndOutOfRangeRanksAreErrors) {
  EXPECT_FALSE(resolve_shard(std::nullopt, std::nullopt,
                             env_of({{"SLURM_PROCID", "x"}, {"SLURM_STEP_NUM_TASKS", "2"}}))
                   .ok());
  EXPECT_FALSE(
      resolve_shard(std::nullopt, std::nullopt, env_of({{"PMI_RANK", "4"}, {"PMI_SIZE", "4"}}))
          .ok());
  EXPECT_FALSE(resolve_shard(-1, 2, env_of({})).ok());
  EXPECT_FALSE(resolve_shard(0, 0, env_of({})).ok());
}

TEST(Shard, RowsAreDealtRoundRobinWithoutPadding) {
  const Shard rank1{1, 3, "flags"};
  EXPECT_FALSE(rank1.owns(0));
  EXPECT_TRUE(rank1.owns(1));
  EXPECT_TRUE(rank1.owns(4));
  // 5 rows over 3 ranks: 2, 2, 1 rows; nothing padded, nothing wrapped.
  EXPECT_EQ((Shard{0, 3, ""}.rows_owned(5)), 2u);
  EXPECT_EQ((Shard{1, 3, ""}.rows_owned(5)), 2u);
  EXPECT_EQ((Shard{2, 3, ""}.rows_owned(5)), 1u);
  EXPECT_EQ((Shard{2, 3, ""}.rows_owned(0)), 0u);
}

// The local rank of the launcher whose rank the shard takes: torchrun under srun sets both
// LOCAL_RANK and SLURM_LOCALID, and torchrun's process is the one that runs.
TEST(LocalRank, FollowsTheLaunchersOrderAndSkipsWhatIsNotARank) {
  EXPECT_FALSE(local_rank(env_of({})).has_value());
  const auto rank_of = [](std::map<std::string, std::string> values) {
    const std::optional<LocalRank> local = local_rank(env_of(std::move(values)));
    return local ? std::to_string(local->rank) + " " + local->variable : std::string("none");
  };
  const std::pair<std::string, std::string> step = {"SLURM_STEP_NUM_TASKS", "8"};
  EXPECT_EQ(rank_of({{"LOCAL_RANK", "3"}, {"SLURM_LOCALID", "0"}, step}), "3 LOCAL_RANK");
  EXPECT_EQ(rank_of({{"OMPI_COMM_WORLD_LOCAL_RANK", "5"}}), "5 OMPI_COMM_WORLD_LOCAL_RANK");
  EXPECT_EQ(rank_of({{"MPI_LOCALRANKID", "1"}, {"SLURM_LOCALID", "2"}, step}), "1 MPI_LOCALRANKID");
  EXPECT_EQ(rank_of({{"SLURM_LOCALID", "2"}, step}), "2 SLURM_LOCALID");
  EXPECT_EQ(rank_of({{"LOCAL_RANK", "x"}, {"SLURM_LOCALID", "2"}, step}), "2 SLURM_LOCALID");
  EXPECT_EQ(rank_of({{"LOCAL_RANK", "-1"}}), "none");
  EXPECT_EQ(rank_of({{"SLURM_LOCALID", "2"}}), "none");  // a batch script: not srun's task
}

// `sbatch -n 4 job.sh` running vcap without srun: the batch script has SLURM_PROCID=0 and the
// allocation's SLURM_NTASKS, SLURM_LOCALID and SLURM_NTASKS_PER_NODE, but no step variables. It
// is one process: rank 0 of 1 (it used to caption a quarter of the rows as rank 0 of 4), alone
// on its machine.
TEST(Shard, ASlurmBatchScriptWithoutSrunIsOneProcess) {
  const auto batch = env_of({{"SLURM_JOB_ID", "77"},
                             {"SLURM_PROCID", "0"},
                             {"SLURM_NTASKS", "4"},
                             {"SLURM_LOCALID", "0"},
                             {"SLURM_NTASKS_PER_NODE", "4"}});
  Result<Shard> shard = resolve_shard(std::nullopt, std::nullopt, batch);
  ASSERT_TRUE(shard.ok()) << shard.status().to_string();
  EXPECT_EQ(shard->world_size, 1);
  EXPECT_EQ(shard->source, "default");
  EXPECT_EQ(local_processes(batch), 1);
  EXPECT_FALSE(local_rank(batch).has_value());
}

// srun's tasks: the step's size, and without --ntasks-per-node its tasks over its nodes.
TEST(Shard, SrunTasksTakeTheStepsSizeAndShareOfTheNode) {
  const auto task = env_of({{"SLURM_PROCID", "5"},
                            {"SLURM_NTASKS", "16"},
                            {"SLURM_STEP_NUM_TASKS", "16"},
                            {"SLURM_STEP_NUM_NODES", "2"},
                            {"SLURM_LOCALID", "5"}});
  Result<Shard> shard = resolve_shard(std::nullopt, std::nullopt, task);
  ASSERT_TRUE(shard.ok()) << shard.status().to_string();
  EXPECT_EQ(shard->source, "slurm");
  EXPECT_EQ(shard->rank, 5);
  EXPECT_EQ(shard->world_size, 16);
  EXPECT_EQ(local_processes(task), 8);
  EXPECT_EQ(local_rank(task)->rank, 5);
}

}  // namespace
}  // namespace vcap::pipeline
