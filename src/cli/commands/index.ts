/**
 * Every command group of the CLI. To add a group, export its CommandDef[] (and ManagementGroup[] if it adds
 * a `berth <noun> ...` management command) from one file in this folder and list them here.
 */
import { CommandRegistry, type CommandDef, type ManagementGroup } from '../registry';
import { buildCommands } from './build';
import { imageCommands, imageGroups } from './images';
import { imageTransferCommands } from './image-transfer';
import { inspectCommands } from './inspect';
import { registryCommands } from './registry';
import { systemCommands, systemGroups } from './system';
import { containerCommands, containerGroups } from './containers';
import { volumeCommands, volumeGroups } from './volumes';
import { networkCommands, networkGroups } from './networks';
import { containerFsCommands } from './container-fs';
import { containerInspectCommands } from './container-inspect';
import { containerOpsCommands } from './container-ops';
import { execCommands } from './exec';

const COMMAND_SETS: CommandDef[][] = [buildCommands, imageCommands, imageTransferCommands, inspectCommands, systemCommands, containerCommands, registryCommands, volumeCommands, networkCommands, containerFsCommands, containerInspectCommands, containerOpsCommands, execCommands];
const GROUP_SETS: ManagementGroup[][] = [imageGroups, systemGroups, containerGroups, volumeGroups, networkGroups];

export function buildRegistry(): CommandRegistry {
  const reg = new CommandRegistry();
  for (const set of COMMAND_SETS) reg.add(set);
  for (const groups of GROUP_SETS) reg.add([], groups);
  return reg;
}
