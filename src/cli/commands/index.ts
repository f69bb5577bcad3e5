/**
 * Every command group of the CLI. To add a group, export its CommandDef[] (and ManagementGroup[] if it adds
 * a `berth <noun> ...` management command) from one file in this folder and list them here.
 */
import { CommandRegistry, type CommandDef, type ManagementGroup } from '../registry';
import { imageCommands, imageGroups } from './images';
import { imageTransferCommands } from './image-transfer';
import { inspectCommands } from './inspect';
import { systemCommands, systemGroups } from './system';

const COMMAND_SETS: CommandDef[][] = [imageCommands, imageTransferCommands, inspectCommands, systemCommands];
const GROUP_SETS: ManagementGroup[][] = [imageGroups, systemGroups];

export function buildRegistry(): CommandRegistry {
  const reg = new CommandRegistry();
  for (const set of COMMAND_SETS) reg.add(set);
  for (const groups of GROUP_SETS) reg.add([], groups);
  return reg;
}
