/**
 * The mover's partition assigner: every partition of the results topic goes to ONE member of the
 * group (the first by member id); other members stand by and take over on the next rebalance.
 *
 * A run's members and its marker may come through different partitions, and the mover completes a
 * run from what it has read; splitting partitions between instances would leave each with part of
 * a run. One instance moves well over 100k results/s, so the mover does not need to scale out.
 */
import type { Assigner, GroupMemberAssignment, PartitionAssigner } from "kafkajs";

export const ALL_TO_ONE_ASSIGNER = "SegMoverAllToOne";

/** The assigner; `protocol` is kafkajs's `AssignerProtocol` (passed in so kafkajs loads lazily). */
export function allToOneAssigner(protocol: typeof import("kafkajs").AssignerProtocol): PartitionAssigner {
  return ({ cluster }): Assigner => ({
    name: ALL_TO_ONE_ASSIGNER,
    version: 0,
    async assign({ members, topics }): Promise<GroupMemberAssignment[]> {
      const ids = members.map((m) => m.memberId).sort();
      const all: Record<string, number[]> = {};
      for (const topic of topics) all[topic] = cluster.findTopicPartitionMetadata(topic).map((p) => p.partitionId);
      return ids.map((memberId, i) => ({
        memberId,
        memberAssignment: protocol.MemberAssignment.encode({ version: 0, assignment: i === 0 ? all : {}, userData: Buffer.alloc(0) }),
      }));
    },
    protocol({ topics }) {
      return { name: ALL_TO_ONE_ASSIGNER, metadata: protocol.MemberMetadata.encode({ version: 0, topics, userData: Buffer.alloc(0) }) };
    },
  });
}
